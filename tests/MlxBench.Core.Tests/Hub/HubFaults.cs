using Microsoft.AspNetCore.Http;

namespace MlxBench.Core.Tests.Hub;

/// <summary>The protocol step a request belongs to, as the fault plan and the request log name it.</summary>
internal enum HubOperation { Revision, PathsInfo, Preupload, LfsBatch, LfsUpload, LfsVerify, Commit, Tree, Resolve, Other }

/// <summary>What goes wrong with a request before (or instead of) the server answering it.</summary>
internal abstract record HubFault(HubOperation Operation)
{
    /// <summary>How many matching requests it still hits.</summary>
    public int Remaining { get; set; } = 1;
}

/// <summary>Answers with a status (429 with Retry-After, 500, 503...) instead of handling the request.</summary>
internal sealed record StatusFault(HubOperation Operation, int Status, string? RetryAfter = null) : HubFault(Operation);

/// <summary>Reads part of the request body, then drops the connection: the client sees a reset mid-upload.</summary>
internal sealed record DropMidBodyFault(HubOperation Operation, int BytesBeforeDrop = 512) : HubFault(Operation);

/// <summary>Handles the request fully (a commit lands), then drops the connection before the answer is sent.</summary>
internal sealed record DropAnswerFault(HubOperation Operation) : HubFault(Operation);

/// <summary>Another writer commits first, so the request's parent commit is stale.</summary>
internal sealed record ConcurrentWriterFault(HubOperation Operation, Action<HubRepo> Write) : HubFault(Operation);

/// <summary>Faults to inject, first match wins; thread-safe because Kestrel serves requests concurrently.</summary>
internal sealed class HubFaultPlan
{
    private readonly List<HubFault> _faults = [];

    public HubFaultPlan Add(HubFault fault)
    {
        lock (_faults) _faults.Add(fault);
        return this;
    }

    public HubFault? Take(HubOperation operation)
    {
        lock (_faults)
        {
            HubFault? fault = _faults.FirstOrDefault(f => f.Operation == operation && f.Remaining > 0);
            if (fault is not null) fault.Remaining--;
            return fault;
        }
    }

    public int Pending
    {
        get { lock (_faults) return _faults.Sum(f => f.Remaining); }
    }

    public static HubOperation Classify(HttpRequest request)
    {
        string path = request.Path.Value ?? "";
        if (path.StartsWith("/lfs-storage/", StringComparison.Ordinal)) return HubOperation.LfsUpload;
        if (path.EndsWith("/info/lfs/objects/batch", StringComparison.Ordinal)) return HubOperation.LfsBatch;
        if (path.EndsWith("/info/lfs/objects/verify", StringComparison.Ordinal)) return HubOperation.LfsVerify;
        if (!path.StartsWith("/api/datasets/", StringComparison.Ordinal))
            return path.Contains("/resolve/", StringComparison.Ordinal) ? HubOperation.Resolve : HubOperation.Other;
        string[] parts = path.Split('/');
        return parts.Length > 5 ? parts[5] switch
        {
            "revision" => HubOperation.Revision,
            "paths-info" => HubOperation.PathsInfo,
            "preupload" => HubOperation.Preupload,
            "commit" => HubOperation.Commit,
            "tree" => HubOperation.Tree,
            _ => HubOperation.Other,
        } : HubOperation.Other;
    }
}
