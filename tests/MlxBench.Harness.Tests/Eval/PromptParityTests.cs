using System.Text.Json.Nodes;
using MlxBench.Harness.Eval.Output;
using MlxBench.Harness.Eval.Python;
using MlxBench.Harness.Eval.Tasks;
using MlxBench.Testing;

namespace MlxBench.Harness.Tests.Eval;

[TestClass]
public sealed class PromptParityTests
{
    [TestMethod]
    public void Gsm8kFiveShotPromptsOfTheFirst40TestDocsAreLmEvals()
    {
        List<JsonObject> test = EvalFixtures.Task("openai__grade-school-math__gsm8k_test.jsonl");
        JsonArray vectors = JsonNode.Parse(File.ReadAllText(SharedData.RequireShared("tasks", "gsm8k_fewshot_rng_test_vectors.json")))!["sample_calls"]!.AsArray();
        var pool = new EvalFixtures.SparseGsm8kTrain();
        var builder = new PromptBuilder(BuiltInTasks.Gsm8k(), new FewshotSampler(pool), new PromptOptions());

        for (int d = 0; d < 40; d++)
        {
            pool.Read.Clear();
            var request = (GenerateRequest)builder.Build(d, test[d]).Requests.Single();

            int[] expectedIndices = vectors[d]!.AsArray().Select(n => (int)n!).ToArray();
            CollectionAssert.AreEqual(expectedIndices, pool.Read, $"doc {d}: few-shot rows are sampler call #{d}");

            // lm-eval 0.4.11 non-chat layout (reference §4.1): Σ(text + " " + answer + "\n\n") + text.
            string expected = string.Concat(expectedIndices.Select(i => "Question: " + (string)pool[i]["question"]! + "\nAnswer: " + (string)pool[i]["answer"]! + "\n\n"))
                + "Question: " + (string)test[d]["question"]! + "\nAnswer:";
            Assert.AreEqual(expected, request.Context.Text, $"doc {d}");
            Assert.IsFalse(request.Context.IsChat);
            Assert.AreEqual("""{"until": ["Question:", "</s>", "<|im_end|>"], "do_sample": false, "temperature": 0.0}""", PyJson.Dumps(request.GenKwargs));
        }
    }

    /// <summary>The real 0.4.9.1 chat run draws twice per document (doc d uses call 2d+1) and logs "type": "text".</summary>
    [TestMethod]
    public void Gsm8kChatPromptsEqualTheRealLmEval0491RunCharacterForCharacter()
    {
        List<JsonObject> test = EvalFixtures.Task("openai__grade-school-math__gsm8k_test.jsonl");
        List<JsonObject> samples = EvalFixtures.LmEvalSamples(EvalFixtures.Gsm8kSamples);
        var builder = new PromptBuilder(BuiltInTasks.Gsm8k(), new FewshotSampler(new EvalFixtures.SparseGsm8kTrain()),
            new PromptOptions { ApplyChatTemplate = true, DoubleSampleChatFewshot = true, ChatMessageTypeField = true });
        var byDoc = samples.ToDictionary(s => (int)s["doc_id"]!);

        for (int d = 0; d <= 18; d++)
        {
            DocRequests doc = builder.Build(d, test[d]);
            if (!byDoc.TryGetValue(d, out JsonObject? sample)) continue;
            var request = (GenerateRequest)doc.Requests.Single();
            Assert.AreEqual((string)sample["arguments"]!["gen_args_0"]!["arg_0"]![0]!, request.Context.Text, $"doc {d}");
            Assert.AreEqual((string)sample["prompt_hash"]!, TaskResult.Sha256(request.Context.Text));
            Assert.AreEqual((string)sample["doc_hash"]!, TaskResult.Sha256(PyJson.Dumps(test[d], indent: 2, ensureAscii: false)));
            Assert.AreEqual(PyJson.Dumps(sample["arguments"]!["gen_args_0"]!["arg_1"]), PyJson.Dumps(request.GenKwargs));
        }
    }

    [TestMethod]
    public void ArcEasyRequestsEqualTheRealSamplesForHfAndMosaicRows()
    {
        List<JsonObject> samples = EvalFixtures.LmEvalSamples(EvalFixtures.ArcSamples);
        List<JsonObject> mosaic = EvalFixtures.Task("mosaicml__llm-foundry__arc_easy_test.jsonl");
        var builder = new PromptBuilder(BuiltInTasks.ArcEasy(), null, new PromptOptions());
        foreach (JsonObject sample in samples)
        {
            int d = (int)sample["doc_id"]!;
            var hfDoc = (JsonObject)sample["doc"]!.DeepClone();
            foreach (JsonObject doc in new[] { hfDoc, mosaic[d] })
            {
                DocRequests built = builder.Build(d, doc);
                JsonObject args = sample["arguments"]!.AsObject();
                Assert.HasCount(args.Count, built.Requests);
                for (int i = 0; i < args.Count; i++)
                {
                    var ll = (LoglikelihoodRequest)built.Requests[i];
                    Assert.AreEqual((string)args[$"gen_args_{i}"]!["arg_0"]!, ll.Context, $"doc {d} choice {i} context");
                    Assert.AreEqual((string)args[$"gen_args_{i}"]!["arg_1"]!, ll.Continuation, $"doc {d} choice {i} continuation");
                }
                Assert.AreEqual((string)sample["target"]!, BuiltInTasks.ArcEasy().DocToTarget(doc).ToString());
            }
            Assert.AreEqual((string)sample["doc_hash"]!, TaskResult.Sha256(PyJson.Dumps(hfDoc, indent: 2, ensureAscii: false)));
            Assert.AreEqual((string)sample["prompt_hash"]!, TaskResult.Sha256(((LoglikelihoodRequest)builder.Build(d, hfDoc).Requests[0]).Context));
            Assert.AreEqual((string)sample["target_hash"]!, TaskResult.Sha256((string)sample["target"]!));
        }
    }

    [TestMethod]
    public void PiqaRequestsFollowLmEvalsTemplateForHfAndMosaicRows()
    {
        JsonObject mosaic = EvalFixtures.Task("mosaicml__llm-foundry__piqa_validation.jsonl")[0];
        string goal = ((string)mosaic["query"]!)["Question: ".Length..^1];
        var hf = new JsonObject { ["goal"] = goal, ["sol1"] = (string)mosaic["choices"]![0]!, ["sol2"] = (string)mosaic["choices"]![1]!, ["label"] = 0 };
        var builder = new PromptBuilder(BuiltInTasks.Piqa(), null, new PromptOptions());
        foreach (JsonObject doc in new[] { hf, mosaic })
        {
            var requests = builder.Build(0, doc).Requests.Cast<LoglikelihoodRequest>().ToList();
            Assert.AreEqual("Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:", requests[0].Context);
            Assert.AreEqual(" " + (string)mosaic["choices"]![0]!, requests[0].Continuation);
            Assert.AreEqual(" " + (string)mosaic["choices"]![1]!, requests[1].Continuation);
        }
    }

    [TestMethod]
    public void WinograndeIsPartialEvaluationWithTheOptionInTheContext()
    {
        JsonObject mosaic = EvalFixtures.Task("mosaicml__llm-foundry__winogrande_xl_validation.jsonl")[0];
        var hf = new JsonObject
        {
            ["sentence"] = "Sarah was a much better surgeon than Maria so _ always got the easier cases.",
            ["option1"] = "Sarah", ["option2"] = "Maria", ["answer"] = "2",
        };
        EvalTask task = BuiltInTasks.Winogrande();
        var builder = new PromptBuilder(task, null, new PromptOptions());
        foreach (JsonObject doc in new[] { hf, mosaic })
        {
            var requests = builder.Build(0, doc).Requests.Cast<LoglikelihoodRequest>().ToList();
            Assert.AreEqual(new LoglikelihoodRequest("Sarah was a much better surgeon than Maria so Sarah", " always got the easier cases."), requests[0]);
            Assert.AreEqual(new LoglikelihoodRequest("Sarah was a much better surgeon than Maria so Maria", " always got the easier cases."), requests[1]);
            Assert.AreEqual(1, task.DocToText(doc).Index, "gold: answer \"2\" is index 1");
        }
    }

    [TestMethod]
    public void WinograndeFewshotExamplesUseTheRightContextThenTheContinuation()
    {
        List<JsonObject> docs = EvalFixtures.Task("mosaicml__llm-foundry__winogrande_xl_validation.jsonl");
        var builder = new PromptBuilder(BuiltInTasks.Winogrande(), new FewshotSampler(new ListFewshotPool(docs[10..20])), new PromptOptions { NumFewshot = 1 });
        var request = (LoglikelihoodRequest)builder.Build(0, docs[0]).Requests[0];
        // The one example: its gold context + " " + its continuation + "\n\n", then this doc's first context.
        int drawn = new MlxBench.Harness.Eval.Python.PyRandom(1234).SampleIndices(10, 1)[0];
        JsonObject example = docs[10 + drawn];
        string exampleText = (string)example["context_options"]![(int)example["gold"]!]! + " " + (string)example["continuation"]! + "\n\n";
        Assert.AreEqual(exampleText + (string)docs[0]["context_options"]![0]!, request.Context);
    }

    [TestMethod]
    public void LambadaSplitsOffTheLastWordWithItsSpace()
    {
        JsonObject mosaic = EvalFixtures.Task("mosaicml__llm-foundry__lambada_openai_test.jsonl")[0];
        var hf = new JsonObject { ["text"] = (string)mosaic["context"]! + " " + (string)mosaic["continuation"]! };
        var builder = new PromptBuilder(BuiltInTasks.LambadaOpenAi(), null, new PromptOptions());
        foreach (JsonObject doc in new[] { hf, mosaic })
        {
            var request = (LoglikelihoodRequest)builder.Build(0, doc).Requests.Single();
            Assert.AreEqual((string)mosaic["context"]!, request.Context);
            Assert.AreEqual(" signs", request.Continuation);
        }
    }

    [TestMethod]
    public void Gsm8kCotZeroshotHasNoExamplesAndItsOwnTemplate()
    {
        JsonObject doc = EvalFixtures.Task("openai__grade-school-math__gsm8k_test.jsonl")[0];
        var request = (GenerateRequest)new PromptBuilder(BuiltInTasks.Gsm8kCotZeroshot(), null, new PromptOptions()).Build(0, doc).Requests.Single();
        Assert.AreEqual("Q: " + (string)doc["question"]! + "\nA: Let's think step by step.", request.Context.Text);
        CollectionAssert.AreEqual(new[] { "Q:", "</s>", "<|im_end|>" }, request.Until.ToArray());
    }
}
