using System.Numerics;

namespace MlxBench.Harness.Eval.Python;

/// <summary>
/// CPython's <c>random.Random</c> (Mersenne Twister MT19937, <c>Modules/_randommodule.c</c> and <c>Lib/random.py</c>),
/// bit for bit: lm-eval draws few-shot examples with <c>Random(1234).sample(...)</c> and bootstraps stderrs with
/// <c>Random(i).choices(...)</c>, so prompts and error bars only match if every draw does.
/// </summary>
public sealed class PyRandom
{
    private const int N = 624;
    private const int M = 397;
    private readonly uint[] _mt = new uint[N];
    private int _index;

    public PyRandom(long seed) => Seed(seed);

    public PyRandom(BigInteger seed) => Seed(seed);

    /// <summary><c>random.seed(a)</c> for an int: MT's <c>init_by_array</c> over the 32-bit words of |a|, least significant first.</summary>
    public void Seed(BigInteger seed)
    {
        BigInteger value = BigInteger.Abs(seed);
        var key = new List<uint>();
        do
        {
            key.Add((uint)(value & uint.MaxValue));
            value >>= 32;
        } while (value > 0);
        InitByArray(key);
    }

    private void InitGenrand(uint s)
    {
        _mt[0] = s;
        for (int i = 1; i < N; i++)
            _mt[i] = 1812433253u * (_mt[i - 1] ^ (_mt[i - 1] >> 30)) + (uint)i;
        _index = N;
    }

    private void InitByArray(IReadOnlyList<uint> key)
    {
        InitGenrand(19650218u);
        int i = 1, j = 0;
        for (int k = Math.Max(N, key.Count); k > 0; k--)
        {
            _mt[i] = (_mt[i] ^ ((_mt[i - 1] ^ (_mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint)j;
            i++; j++;
            if (i >= N) { _mt[0] = _mt[N - 1]; i = 1; }
            if (j >= key.Count) j = 0;
        }
        for (int k = N - 1; k > 0; k--)
        {
            _mt[i] = (_mt[i] ^ ((_mt[i - 1] ^ (_mt[i - 1] >> 30)) * 1566083941u)) - (uint)i;
            i++;
            if (i >= N) { _mt[0] = _mt[N - 1]; i = 1; }
        }
        _mt[0] = 0x80000000u;
        _index = N;
    }

    /// <summary>The next 32 bits of the generator (<c>genrand_uint32</c>).</summary>
    public uint NextUInt32()
    {
        if (_index >= N) Twist();
        uint y = _mt[_index++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        y ^= y >> 18;
        return y;
    }

    private void Twist()
    {
        for (int kk = 0; kk < N; kk++)
        {
            uint y = (_mt[kk] & 0x80000000u) | (_mt[(kk + 1) % N] & 0x7fffffffu);
            _mt[kk] = _mt[(kk + M) % N] ^ (y >> 1) ^ ((y & 1u) != 0 ? 0x9908b0dfu : 0u);
        }
        _index = 0;
    }

    /// <summary><c>random()</c>: a double in [0, 1) with 53 random bits.</summary>
    public double Random()
    {
        uint a = NextUInt32() >> 5, b = NextUInt32() >> 6;
        return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
    }

    /// <summary><c>getrandbits(k)</c>: 32-bit words, least significant first; the last word keeps its top bits.</summary>
    public BigInteger GetRandBits(int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        if (k == 0) return BigInteger.Zero;
        if (k <= 32) return NextUInt32() >> (32 - k);
        BigInteger result = BigInteger.Zero;
        for (int shift = 0; k > 0; shift += 32, k -= 32)
        {
            uint r = NextUInt32();
            if (k < 32) r >>= 32 - k;
            result |= (BigInteger)r << shift;
        }
        return result;
    }

    /// <summary><c>_randbelow(n)</c> (<c>_randbelow_with_getrandbits</c>): rejection sampling on bit_length(n) bits.</summary>
    public int RandBelow(int n)
    {
        if (n <= 0) return 0;
        int k = 32 - BitOperations.LeadingZeroCount((uint)n);
        uint r = (uint)GetRandBits(k);
        while (r >= (uint)n) r = (uint)GetRandBits(k);
        return (int)r;
    }

    /// <summary><c>shuffle(x)</c> in place.</summary>
    public void Shuffle<T>(IList<T> items)
    {
        for (int i = items.Count - 1; i > 0; i--)
        {
            int j = RandBelow(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    /// <summary><c>sample(range(n), k)</c>: the indices <c>sample</c> would pick from a population of size n, in order.</summary>
    public int[] SampleIndices(int n, int k)
    {
        if (k < 0 || k > n) throw new ArgumentOutOfRangeException(nameof(k), "Sample larger than population or is negative");
        var result = new int[k];
        int setSize = 21;
        if (k > 5) setSize += (int)Math.Pow(4, Math.Ceiling(Math.Log(k * 3) / Math.Log(4)));
        if (n <= setSize)
        {
            int[] pool = Enumerable.Range(0, n).ToArray();
            for (int i = 0; i < k; i++)
            {
                int j = RandBelow(n - i);
                result[i] = pool[j];
                pool[j] = pool[n - i - 1];
            }
        }
        else
        {
            var selected = new HashSet<int>();
            for (int i = 0; i < k; i++)
            {
                int j = RandBelow(n);
                while (!selected.Add(j)) j = RandBelow(n);
                result[i] = j;
            }
        }
        return result;
    }

    /// <summary><c>sample(population, k)</c>.</summary>
    public List<T> Sample<T>(IReadOnlyList<T> population, int k) => SampleIndices(population.Count, k).Select(i => population[i]).ToList();

    /// <summary><c>choices(population, k=k)</c> without weights: <c>population[floor(random() * n)]</c> per pick.</summary>
    public void Choices<T>(IReadOnlyList<T> population, Span<T> into)
    {
        int n = population.Count;
        for (int i = 0; i < into.Length; i++) into[i] = population[(int)Math.Floor(Random() * n)];
    }
}
