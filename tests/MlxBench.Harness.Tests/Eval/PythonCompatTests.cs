using System.Text.Json.Nodes;
using MlxBench.Harness.Eval.Python;

namespace MlxBench.Harness.Tests.Eval;

[TestClass]
public sealed class PythonCompatTests
{
    [TestMethod]
    [DataRow(-0.2604923103919594, "-0.2604923103919594")]
    [DataRow(1.0, "1.0")]
    [DataRow(1e16, "1e+16")]
    [DataRow(1e15, "1000000000000000.0")]
    [DataRow(0.0001, "0.0001")]
    [DataRow(0.00001, "1e-05")]
    [DataRow(-1.2345e-7, "-1.2345e-07")]
    [DataRow(123456.789, "123456.789")]
    [DataRow(0.04351941398892446, "0.04351941398892446")]
    public void FloatReprIsPythons(double value, string expected) => Assert.AreEqual(expected, PyFloat.Repr(value));

    [TestMethod]
    public void DumpsMatchesPythonLayoutAndEscaping()
    {
        var doc = JsonNode.Parse("""{"q": "Janet\u2019s \"ducks\"\n", "n": [1, 2.5], "e": {}, "ok": true, "none": null}""")!;
        Assert.AreEqual("{\"q\": \"Janet\\u2019s \\\"ducks\\\"\\n\", \"n\": [1, 2.5], \"e\": {}, \"ok\": true, \"none\": null}", PyJson.Dumps(doc));
        Assert.AreEqual("{\n  \"q\": \"Janet\u2019s \\\"ducks\\\"\\n\",\n  \"n\": [\n    1,\n    2.5\n  ],\n  \"e\": {},\n  \"ok\": true,\n  \"none\": null\n}",
            PyJson.Dumps(doc, indent: 2, ensureAscii: false));
        Assert.AreEqual("[0.0, 1]", PyJson.Dumps(new JsonArray(0.0, 1)), "a double is a Python float, an int an int");
    }

    [TestMethod]
    public void StrHelpersFollowPython()
    {
        Assert.AreEqual(2, PyStr.Len("\U0001F600a"), "len counts code points");
        Assert.AreEqual("x", PyStr.Strip("\u001f \u00a0x\u2003\n"));
    }
}
