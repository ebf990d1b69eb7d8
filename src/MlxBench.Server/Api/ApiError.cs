using System.Text.Json;

namespace MlxBench.Server.Api;

/// <summary>A request the server refuses, in OpenAI's error shape: <c>{"error": {"message", "type", "param", "code"}}</c>.</summary>
internal sealed class ApiError(int status, string message, string? param = null, string? code = null, string? type = null) : Exception(message)
{
    public int Status { get; } = status;
    public string? Param { get; } = param;
    public string? Code { get; } = code;
    public string Type { get; } = type ?? status switch
    {
        401 => "authentication_error",
        404 => "not_found_error",
        503 => "service_unavailable",
        >= 500 => "server_error",
        _ => "invalid_request_error",
    };

    public static ApiError BadRequest(string message, string? param = null) => new(400, message, param);

    public static ApiError Loading() => new(503, "The model is still loading; retry when GET /health answers 200.", code: "model_loading");

    public static ApiError UnknownModel(string model, IEnumerable<string> served) =>
        new(404, $"The model '{model}' does not exist. This server serves: {string.Join(", ", served)}.", "model", "model_not_found");

    public IResult ToResult() => new JsonBytesResult(ToJson(), Status);

    public byte[] ToJson()
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, JsonBytesResult.WriterOptions))
        {
            w.WriteStartObject();
            w.WriteStartObject("error");
            w.WriteString("message", Message);
            w.WriteString("type", Type);
            if (Param is null) w.WriteNull("param"); else w.WriteString("param", Param);
            if (Code is null) w.WriteNull("code"); else w.WriteString("code", Code);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }
}

/// <summary>Pre-serialized JSON with a status code (Results.Bytes has no status).</summary>
internal sealed class JsonBytesResult(byte[] body, int status = 200) : IResult
{
    /// <summary>Token texts such as "&lt;s&gt;" stay readable; the output is still valid JSON.</summary>
    public static JsonWriterOptions WriterOptions { get; } = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public async Task ExecuteAsync(HttpContext http)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        http.Response.ContentLength = body.Length;
        await http.Response.Body.WriteAsync(body, http.RequestAborted);
    }
}
