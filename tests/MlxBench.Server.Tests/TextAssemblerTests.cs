using System.Text;
using MlxBench.Server.Text;

namespace MlxBench.Server.Tests;

/// <summary>Byte-level behaviour the HTTP tests cannot force with stories260K's vocabulary: UTF-8 characters split
/// across byte-fallback tokens, and stop sequences made of such characters.</summary>
[TestClass]
public sealed class TextAssemblerTests
{
    private static string Feed(TextAssembler assembler, params byte[][] pieces)
    {
        var sb = new StringBuilder();
        foreach (byte[] p in pieces) sb.Append(assembler.Add(p));
        return sb.Append(assembler.Finish()).ToString();
    }

    [TestMethod]
    public void AMultiByteCharacterSplitAcrossTokens_IsReleasedWhole()
    {
        byte[] euro = Encoding.UTF8.GetBytes("€");   // 3 bytes
        var assembler = new TextAssembler([]);
        Assert.AreEqual("a", assembler.Add("a"u8));
        Assert.AreEqual("", assembler.Add(euro[..1]));
        Assert.AreEqual("", assembler.Add(euro[1..2]));
        Assert.AreEqual("€", assembler.Add(euro[2..]));
    }

    [TestMethod]
    public void AStopSequenceOfSplitCharacters_IsFoundAndNeverEmitted()
    {
        byte[] text = Encoding.UTF8.GetBytes("price: 5€ total");
        var assembler = new TextAssembler(["€ t"]);
        string emitted = Feed(assembler, text.Select(b => new[] { b }).ToArray());
        Assert.AreEqual("price: 5", emitted);
        Assert.IsTrue(assembler.Stopped);
    }

    [TestMethod]
    public void HeldBackText_IsReleasedOnceItCannotStartAStop()
    {
        var assembler = new TextAssembler(["STOP"]);
        Assert.AreEqual("", assembler.Add("ST"u8), "could be the start of STOP");
        Assert.AreEqual("STAR", assembler.Add("AR"u8), "no suffix of STAR starts STOP");
        Assert.AreEqual("", assembler.Add("S"u8));
        Assert.AreEqual("S", assembler.Finish(), "held text is released at the end");
    }

    [TestMethod]
    public void TheEarliestOfSeveralStops_Wins()
    {
        var assembler = new TextAssembler(["world", "lo w"]);
        Assert.AreEqual("hel", Feed(assembler, "hel"u8.ToArray(), "lo wor"u8.ToArray(), "ld"u8.ToArray()));
    }

    [TestMethod]
    public void ADanglingPartialCharacterAtTheEnd_BecomesAReplacementCharacter()
    {
        var assembler = new TextAssembler([]);
        Assert.AreEqual("a\uFFFD", Feed(assembler, "a"u8.ToArray(), [0xE2, 0x82]));
    }
}
