using MlxBench.Core.Envelopes;
using Parquet;
using Parquet.Data;
using Parquet.Schema;

namespace MlxBench.Core.Shards;

/// <summary>A shard ready to be stored: its path inside the dataset and its parquet bytes.</summary>
public sealed record Shard(string PathInDataset, byte[] Bytes);

/// <summary>
/// Writes an envelope's rows as one parquet row group with snappy compression (pyarrow's default). The bytes depend only
/// on the envelope and the Parquet.Net version, so the content hash in the name is stable across re-publishes.
/// </summary>
public static class ShardWriter
{
    public static async Task<Shard> WriteAsync(Envelope envelope, CancellationToken cancellationToken = default)
    {
        IReadOnlyList<ShardColumn> columns = ShardRows.Columns(envelope);
        DataField[] fields = columns.Select(Field).ToArray();
        var options = new ParquetOptions { CompressionMethod = CompressionMethod.Snappy };
        using var buffer = new MemoryStream();
        await using (ParquetWriter writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), buffer, options, cancellationToken: cancellationToken))
        {
            using ParquetRowGroupWriter group = writer.CreateRowGroup();
            for (int i = 0; i < columns.Count; i++)
                await WriteColumnAsync(group, fields[i], columns[i], cancellationToken);
        }
        byte[] bytes = buffer.ToArray();
        return new Shard(ShardNaming.PathInDataset(envelope, bytes), bytes);
    }

    private static DataField Field(ShardColumn column) => column.Kind switch
    {
        ColumnKind.String => new DataField<string>(column.Name, nullable: true),
        ColumnKind.Int64 => new DataField<long>(column.Name, nullable: true),
        _ => new DataField<double>(column.Name, nullable: true),
    };

    private static async Task WriteColumnAsync(ParquetRowGroupWriter group, DataField field, ShardColumn column, CancellationToken cancellationToken)
    {
        var culture = System.Globalization.CultureInfo.InvariantCulture;
        switch (column.Kind)
        {
            case ColumnKind.String:
                await group.WriteAsync(field, column.Values.Select(v => (string)v!).ToArray());
                break;
            case ColumnKind.Int64:
                await group.WriteAsync<long>(field, column.Values.Select(v => v is null ? (long?)null : Convert.ToInt64(v, culture)).ToArray(), cancellationToken: cancellationToken);
                break;
            default:
                await group.WriteAsync<double>(field, column.Values.Select(v => v is null ? (double?)null : Convert.ToDouble(v, culture)).ToArray(), cancellationToken: cancellationToken);
                break;
        }
    }
}
