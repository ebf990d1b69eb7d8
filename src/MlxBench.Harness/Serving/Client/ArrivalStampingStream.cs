using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace MlxBench.Harness.Serving.Client;

/// <summary>
/// A read-only view of a response body that stamps <see cref="Stopwatch"/> ticks the moment a read returns bytes,
/// before anything parses them. A message's arrival time is the stamp of the read that completed it, so parsing cost
/// never shows up in TTFT or ITL.
/// After a read returns, it keeps reading for as long as the inner stream completes at once (bytes the connection
/// already holds: HTTP chunks from the same socket read), so the SSE parser gets every message of one socket read in
/// one go, all stamped with the time that read returned rather than the time each was reached. A read that would
/// wait is kept pending in its own buffer and awaited by the next call.
/// </summary>
internal sealed class ArrivalStampingStream(Stream inner) : Stream
{
    private const int BufferSize = 16 * 1024;
    private readonly byte[] _buffer = new byte[BufferSize];
    private int _start;
    private int _end;
    private ValueTask<int> _pending;
    private int _pendingOffset = -1;
    private bool _ended;

    public long LastArrivalTicks { get; private set; }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        if (_start == _end && !_ended)
        {
            int offset, read;
            if (_pendingOffset >= 0)
            {
                offset = _pendingOffset;
                _pendingOffset = -1;
                read = await _pending.ConfigureAwait(false);
            }
            else
            {
                offset = 0;
                read = await inner.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
            }
            if (read == 0) _ended = true;
            else
            {
                LastArrivalTicks = Stopwatch.GetTimestamp();
                _start = offset;
                _end = offset + read;
                DrainBuffered(cancellationToken);
            }
        }
        int count = Math.Min(destination.Length, _end - _start);
        _buffer.AsSpan(_start, count).CopyTo(destination.Span);
        _start += count;
        return count;
    }

    /// <summary>Reads on while reads complete without waiting; leaves the first one that would wait pending.</summary>
    private void DrainBuffered(CancellationToken cancellationToken)
    {
        while (_end < _buffer.Length)
        {
            ValueTask<int> next = inner.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
            if (!next.IsCompletedSuccessfully)
            {
                _pending = next;
                _pendingOffset = _end;
                return;
            }
            int read = next.Result;
            if (read == 0)
            {
                _ended = true;
                return;
            }
            _end += read;
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync() => inner.DisposeAsync();
}
