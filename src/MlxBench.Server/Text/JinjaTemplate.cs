using System.Globalization;
using System.Text;

namespace MlxBench.Server.Text;

/// <summary>A template that does not parse, or a render that fails (including the template's own raise_exception).</summary>
internal sealed class JinjaException(string message) : Exception(message);

/// <summary>
/// The subset of Jinja2 that HuggingFace chat templates use, with the environment HF's <c>apply_chat_template</c>
/// renders them in (<c>trim_blocks</c>, <c>lstrip_blocks</c>, Python-like values): <c>if/elif/else</c>, <c>for</c>
/// (with <c>loop.*</c>, a filter and <c>else</c>), <c>set</c> (also on a <c>namespace()</c>), <c>{%- -%}</c>
/// whitespace control, the usual operators, tests, filters and string/dict methods, and <c>raise_exception</c>.
/// Anything else is a parse error, so an unsupported template falls back to ChatML instead of rendering wrongly.
/// </summary>
internal sealed class JinjaTemplate
{
    private readonly List<Node> _body;

    private JinjaTemplate(List<Node> body) => _body = body;

    public static JinjaTemplate Parse(string source) => new(new Parser(Lexer.Tokenize(source)).ParseTemplate());

    public string Render(IReadOnlyDictionary<string, object?> variables)
    {
        var scope = new Scope(null);
        foreach ((string k, object? v) in variables) scope.Set(k, v);
        var output = new StringBuilder();
        Exec(_body, scope, output);
        return output.ToString();
    }

    // ---- values ------------------------------------------------------------------------------------------------

    private sealed class UndefinedValue { public static readonly UndefinedValue Instance = new(); }

    private sealed class Namespace : Dictionary<string, object?> { public Namespace() : base(StringComparer.Ordinal) { } }

    private static object? Undefined => UndefinedValue.Instance;

    private static bool IsUndefined(object? v) => v is UndefinedValue;

    private static bool Truthy(object? v) => v switch
    {
        null or UndefinedValue => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        System.Collections.ICollection c => c.Count > 0,
        _ => true,
    };

    private static string Str(object? v) => v switch
    {
        null => "None",
        UndefinedValue => "",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => d == Math.Floor(d) && Math.Abs(d) < 1e16 ? d.ToString("0.0", CultureInfo.InvariantCulture) : d.ToString("R", CultureInfo.InvariantCulture),
        string s => s,
        List<object?> list => "[" + string.Join(", ", list.Select(Repr)) + "]",
        Dictionary<string, object?> dict => "{" + string.Join(", ", dict.Select(p => Repr(p.Key) + ": " + Repr(p.Value))) + "}",
        _ => v.ToString() ?? "",
    };

    private static string Repr(object? v) => v is string s ? "'" + s.Replace("\\", "\\\\").Replace("'", "\\'") + "'" : Str(v);

    private static bool Eq(object? a, object? b) => (a, b) switch
    {
        (long x, long y) => x == y,
        (long or double, long or double) => Convert.ToDouble(a, CultureInfo.InvariantCulture) == Convert.ToDouble(b, CultureInfo.InvariantCulture),
        (string x, string y) => x == y,
        (bool x, bool y) => x == y,
        (null, null) => true,
        (UndefinedValue, UndefinedValue) => true,
        (List<object?> x, List<object?> y) => x.Count == y.Count && x.Zip(y).All(p => Eq(p.First, p.Second)),
        _ => ReferenceEquals(a, b),
    };

    private static int Compare(object? a, object? b) => (a, b) switch
    {
        (long x, long y) => x.CompareTo(y),
        (long or double, long or double) => Convert.ToDouble(a, CultureInfo.InvariantCulture).CompareTo(Convert.ToDouble(b, CultureInfo.InvariantCulture)),
        (string x, string y) => string.CompareOrdinal(x, y),
        _ => throw new JinjaException($"cannot compare {TypeName(a)} with {TypeName(b)}"),
    };

    private static string TypeName(object? v) => v switch
    {
        null => "None",
        UndefinedValue => "undefined",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        _ => "dict",
    };

    private static IEnumerable<object?> Iterate(object? v) => v switch
    {
        List<object?> list => list,
        Dictionary<string, object?> dict => dict.Keys,
        string s => s.Select(c => (object?)c.ToString()),
        null or UndefinedValue => [],
        _ => throw new JinjaException($"{TypeName(v)} is not iterable"),
    };

    // ---- tokens ------------------------------------------------------------------------------------------------

    private enum T { Text, VarStart, VarEnd, BlockStart, BlockEnd, Name, String, Int, Float, Op, End }

    private readonly record struct Token(T Kind, string Value);

    private static class Lexer
    {
        private static readonly string[] s_ops = ["==", "!=", "<=", ">=", "//", "**", "(", ")", "[", "]", "{", "}", ",", ":", ".", "|", "+", "-", "*", "/", "%", "~", "<", ">", "="];

        public static List<Token> Tokenize(string src)
        {
            var tokens = new List<Token>();
            int i = 0;
            bool trimNextText = false, afterBlock = false;
            while (i < src.Length)
            {
                int open = IndexOfOpen(src, i);
                string text = open < 0 ? src[i..] : src[i..open];
                if (trimNextText) text = text.TrimStart();
                else if (afterBlock && text.StartsWith('\n')) text = text[1..];           // trim_blocks
                else if (afterBlock && text.StartsWith("\r\n", StringComparison.Ordinal)) text = text[2..];
                trimNextText = afterBlock = false;
                if (open < 0)
                {
                    if (text.Length > 0) tokens.Add(new Token(T.Text, text));
                    break;
                }
                char kind = src[open + 1];
                bool stripBefore = open + 2 < src.Length && src[open + 2] == '-';
                if (stripBefore) text = text.TrimEnd();
                else if (kind == '%' || kind == '#') text = LstripBlock(text);                 // lstrip_blocks
                if (text.Length > 0) tokens.Add(new Token(T.Text, text));
                int start = open + (stripBefore ? 3 : 2);
                if (kind == '#')
                {
                    int close = src.IndexOf("#}", start, StringComparison.Ordinal);
                    if (close < 0) throw new JinjaException("unclosed comment");
                    trimNextText = close > 0 && src[close - 1] == '-';
                    afterBlock = !trimNextText;
                    i = close + 2;
                    continue;
                }
                string closer = kind == '{' ? "}}" : "%}";
                tokens.Add(new Token(kind == '{' ? T.VarStart : T.BlockStart, ""));
                i = LexExpression(src, start, closer, tokens, out bool stripAfter);
                tokens.Add(new Token(kind == '{' ? T.VarEnd : T.BlockEnd, ""));
                trimNextText = stripAfter;
                afterBlock = kind == '%' && !stripAfter;
            }
            tokens.Add(new Token(T.End, ""));
            return tokens;
        }

        private static int IndexOfOpen(string src, int from)
        {
            for (int i = src.IndexOf('{', from); i >= 0 && i + 1 < src.Length; i = src.IndexOf('{', i + 1))
                if (src[i + 1] is '{' or '%' or '#') return i;
            return -1;
        }

        private static string LstripBlock(string text)
        {
            int nl = text.LastIndexOf('\n');
            string tail = text[(nl + 1)..];
            return tail.Trim(' ', '\t').Length == 0 ? text[..(nl + 1)] : text;
        }

        private static int LexExpression(string src, int i, string closer, List<Token> tokens, out bool stripAfter)
        {
            while (true)
            {
                while (i < src.Length && char.IsWhiteSpace(src[i])) i++;
                if (i >= src.Length) throw new JinjaException($"missing '{closer}'");
                if (src[i] == '-' && string.CompareOrdinal(src, i + 1, closer, 0, 2) == 0) { stripAfter = true; return i + 3; }
                if (string.CompareOrdinal(src, i, closer, 0, 2) == 0) { stripAfter = false; return i + 2; }
                char c = src[i];
                if (char.IsLetter(c) || c == '_')
                {
                    int s = i;
                    while (i < src.Length && (char.IsLetterOrDigit(src[i]) || src[i] == '_')) i++;
                    tokens.Add(new Token(T.Name, src[s..i]));
                }
                else if (char.IsDigit(c))
                {
                    int s = i;
                    while (i < src.Length && char.IsDigit(src[i])) i++;
                    bool isFloat = i + 1 < src.Length && src[i] == '.' && char.IsDigit(src[i + 1]);
                    if (isFloat) { i++; while (i < src.Length && char.IsDigit(src[i])) i++; }
                    tokens.Add(new Token(isFloat ? T.Float : T.Int, src[s..i]));
                }
                else if (c is '\'' or '"')
                {
                    var sb = new StringBuilder();
                    i++;
                    while (i < src.Length && src[i] != c)
                    {
                        if (src[i] == '\\' && i + 1 < src.Length)
                        {
                            i++;
                            sb.Append(src[i] switch { 'n' => '\n', 't' => '\t', 'r' => '\r', _ => src[i] });
                        }
                        else sb.Append(src[i]);
                        i++;
                    }
                    if (i >= src.Length) throw new JinjaException("unterminated string");
                    i++;
                    tokens.Add(new Token(T.String, sb.ToString()));
                }
                else
                {
                    string? op = s_ops.FirstOrDefault(o => string.CompareOrdinal(src, i, o, 0, o.Length) == 0);
                    if (op is null) throw new JinjaException($"unexpected character '{c}'");
                    tokens.Add(new Token(T.Op, op));
                    i += op.Length;
                }
            }
        }
    }

    // ---- syntax tree -------------------------------------------------------------------------------------------

    private abstract record Node;
    private sealed record TextNode(string Text) : Node;
    private sealed record OutputNode(Expr Value) : Node;
    private sealed record IfNode(List<(Expr? Condition, List<Node> Body)> Branches) : Node;
    private sealed record ForNode(List<string> Targets, Expr Iterable, Expr? Filter, List<Node> Body, List<Node> Else) : Node;
    private sealed record SetNode(string Name, string? Attribute, Expr Value) : Node;

    private abstract record Expr;
    private sealed record Literal(object? Value) : Expr;
    private sealed record NameRef(string Name) : Expr;
    private sealed record ListExpr(List<Expr> Items) : Expr;
    private sealed record DictExpr(List<(Expr Key, Expr Value)> Items) : Expr;
    private sealed record Attr(Expr Target, string Name) : Expr;
    private sealed record Index(Expr Target, Expr Key) : Expr;
    private sealed record Slice(Expr Target, Expr? Start, Expr? Stop, Expr? Step) : Expr;
    private sealed record Call(Expr Target, List<Expr> Args, List<(string Name, Expr Value)> Kwargs) : Expr;
    private sealed record Filter(Expr Target, string Name, List<Expr> Args, List<(string Name, Expr Value)> Kwargs) : Expr;
    private sealed record Test(Expr Target, string Name, List<Expr> Args, bool Negated) : Expr;
    private sealed record Unary(string Op, Expr Operand) : Expr;
    private sealed record Binary(string Op, Expr Left, Expr Right) : Expr;
    private sealed record Conditional(Expr Condition, Expr Then, Expr? Else) : Expr;

    private sealed class Parser(List<Token> tokens)
    {
        private int _p;

        private Token Peek => tokens[_p];
        private Token Next() => tokens[_p++];

        private bool IsOp(string op) => Peek.Kind == T.Op && Peek.Value == op;
        private bool IsName(string name) => Peek.Kind == T.Name && Peek.Value == name;

        private void ExpectOp(string op)
        {
            if (!IsOp(op)) throw new JinjaException($"expected '{op}', got '{Peek.Value}'");
            _p++;
        }

        private string ExpectName()
        {
            if (Peek.Kind != T.Name) throw new JinjaException($"expected a name, got '{Peek.Value}'");
            return Next().Value;
        }

        private void Expect(T kind)
        {
            if (Peek.Kind != kind) throw new JinjaException($"expected {kind}, got '{Peek.Value}'");
            _p++;
        }

        public List<Node> ParseTemplate()
        {
            List<Node> body = ParseBody(out string? end);
            if (end is not null) throw new JinjaException($"unexpected '{end}'");
            return body;
        }

        /// <summary>Parses nodes until an end-like block tag (returned in <paramref name="end"/>, its name consumed) or the end.</summary>
        private List<Node> ParseBody(out string? end)
        {
            var nodes = new List<Node>();
            while (true)
            {
                Token t = Next();
                switch (t.Kind)
                {
                    case T.End:
                        end = null;
                        return nodes;
                    case T.Text:
                        nodes.Add(new TextNode(t.Value));
                        break;
                    case T.VarStart:
                        nodes.Add(new OutputNode(ParseExpression()));
                        Expect(T.VarEnd);
                        break;
                    case T.BlockStart:
                        string keyword = ExpectName();
                        switch (keyword)
                        {
                            case "if": nodes.Add(ParseIf()); break;
                            case "for": nodes.Add(ParseFor()); break;
                            case "set": nodes.Add(ParseSet()); break;
                            case "generation" or "endgeneration": Expect(T.BlockEnd); break;
                            case "elif" or "else" or "endif" or "endfor":
                                end = keyword;
                                return nodes;
                            default: throw new JinjaException($"unsupported tag '{keyword}'");
                        }
                        break;
                    default:
                        throw new JinjaException($"unexpected '{t.Value}'");
                }
            }
        }

        private IfNode ParseIf()
        {
            var branches = new List<(Expr?, List<Node>)>();
            Expr condition = ParseExpression();
            Expect(T.BlockEnd);
            while (true)
            {
                List<Node> body = ParseBody(out string? end);
                branches.Add((condition, body));
                if (end == "elif")
                {
                    condition = ParseExpression();
                    Expect(T.BlockEnd);
                    continue;
                }
                if (end == "else")
                {
                    Expect(T.BlockEnd);
                    List<Node> otherwise = ParseBody(out string? end2);
                    if (end2 != "endif") throw new JinjaException("expected endif");
                    Expect(T.BlockEnd);
                    branches.Add((null, otherwise));
                    return new IfNode(branches);
                }
                if (end != "endif") throw new JinjaException("expected endif");
                Expect(T.BlockEnd);
                return new IfNode(branches);
            }
        }

        private ForNode ParseFor()
        {
            var targets = new List<string> { ExpectName() };
            while (IsOp(",")) { _p++; targets.Add(ExpectName()); }
            if (ExpectName() != "in") throw new JinjaException("expected 'in'");
            Expr iterable = ParseOr();
            Expr? filter = null;
            if (IsName("if")) { _p++; filter = ParseOr(); }
            Expect(T.BlockEnd);
            List<Node> body = ParseBody(out string? end);
            List<Node> otherwise = [];
            if (end == "else")
            {
                Expect(T.BlockEnd);
                otherwise = ParseBody(out end);
            }
            if (end != "endfor") throw new JinjaException("expected endfor");
            Expect(T.BlockEnd);
            return new ForNode(targets, iterable, filter, body, otherwise);
        }

        private SetNode ParseSet()
        {
            string name = ExpectName();
            string? attribute = null;
            if (IsOp(".")) { _p++; attribute = ExpectName(); }
            ExpectOp("=");
            Expr value = ParseExpression();
            Expect(T.BlockEnd);
            return new SetNode(name, attribute, value);
        }

        private Expr ParseExpression()
        {
            Expr e = ParseOr();
            if (IsName("if"))
            {
                _p++;
                Expr condition = ParseOr();
                Expr? otherwise = null;
                if (IsName("else")) { _p++; otherwise = ParseExpression(); }
                return new Conditional(condition, e, otherwise);
            }
            return e;
        }

        private Expr ParseOr()
        {
            Expr e = ParseAnd();
            while (IsName("or")) { _p++; e = new Binary("or", e, ParseAnd()); }
            return e;
        }

        private Expr ParseAnd()
        {
            Expr e = ParseNot();
            while (IsName("and")) { _p++; e = new Binary("and", e, ParseNot()); }
            return e;
        }

        private Expr ParseNot()
        {
            if (IsName("not")) { _p++; return new Unary("not", ParseNot()); }
            return ParseComparison();
        }

        private Expr ParseComparison()
        {
            Expr e = ParseConcat();
            while (true)
            {
                if (Peek.Kind == T.Op && Peek.Value is "==" or "!=" or "<" or ">" or "<=" or ">=")
                {
                    string op = Next().Value;
                    e = new Binary(op, e, ParseConcat());
                }
                else if (IsName("in")) { _p++; e = new Binary("in", e, ParseConcat()); }
                else if (IsName("not") && tokens[_p + 1] is { Kind: T.Name, Value: "in" }) { _p += 2; e = new Unary("not", new Binary("in", e, ParseConcat())); }
                else if (IsName("is"))
                {
                    _p++;
                    bool negated = false;
                    if (IsName("not")) { _p++; negated = true; }
                    string name = ExpectName();
                    var args = new List<Expr>();
                    if (IsOp("(")) args = ParseArgs(out _);
                    else if (Peek.Kind is T.String or T.Int or T.Float || (Peek.Kind == T.Name && Peek.Value is not ("and" or "or" or "else" or "if")))
                        args.Add(ParsePrimaryWithPostfix());
                    e = new Test(e, name, args, negated);
                }
                else return e;
            }
        }

        private Expr ParseConcat()
        {
            Expr e = ParseAdditive();
            while (IsOp("~")) { _p++; e = new Binary("~", e, ParseAdditive()); }
            return e;
        }

        private Expr ParseAdditive()
        {
            Expr e = ParseMultiplicative();
            while (IsOp("+") || IsOp("-")) { string op = Next().Value; e = new Binary(op, e, ParseMultiplicative()); }
            return e;
        }

        private Expr ParseMultiplicative()
        {
            Expr e = ParseUnary();
            while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) { string op = Next().Value; e = new Binary(op, e, ParseUnary()); }
            return e;
        }

        private Expr ParseUnary()
        {
            if (IsOp("-")) { _p++; return new Unary("-", ParseUnary()); }
            if (IsOp("+")) { _p++; return ParseUnary(); }
            return ParseFiltered();
        }

        private Expr ParseFiltered()
        {
            Expr e = ParsePrimaryWithPostfix();
            while (IsOp("|"))
            {
                _p++;
                string name = ExpectName();
                List<Expr> args = [];
                List<(string, Expr)> kwargs = [];
                if (IsOp("(")) args = ParseArgs(out kwargs);
                e = new Filter(e, name, args, kwargs);
            }
            return e;
        }

        private Expr ParsePrimaryWithPostfix()
        {
            Expr e = ParsePrimary();
            while (true)
            {
                if (IsOp(".")) { _p++; e = new Attr(e, ExpectName()); }
                else if (IsOp("["))
                {
                    _p++;
                    Expr? start = IsOp(":") ? null : ParseExpression();
                    if (IsOp(":"))
                    {
                        _p++;
                        Expr? stop = IsOp("]") || IsOp(":") ? null : ParseExpression();
                        Expr? step = null;
                        if (IsOp(":")) { _p++; step = IsOp("]") ? null : ParseExpression(); }
                        ExpectOp("]");
                        e = new Slice(e, start, stop, step);
                    }
                    else
                    {
                        ExpectOp("]");
                        e = new Index(e, start!);
                    }
                }
                else if (IsOp("(")) { List<Expr> args = ParseArgs(out List<(string, Expr)> kwargs); e = new Call(e, args, kwargs); }
                else return e;
            }
        }

        private List<Expr> ParseArgs(out List<(string Name, Expr Value)> kwargs)
        {
            ExpectOp("(");
            var args = new List<Expr>();
            kwargs = [];
            while (!IsOp(")"))
            {
                if (Peek.Kind == T.Name && tokens[_p + 1] is { Kind: T.Op, Value: "=" })
                {
                    string name = Next().Value;
                    _p++;
                    kwargs.Add((name, ParseExpression()));
                }
                else args.Add(ParseExpression());
                if (!IsOp(")")) ExpectOp(",");
            }
            _p++;
            return args;
        }

        private Expr ParsePrimary()
        {
            Token t = Next();
            switch (t.Kind)
            {
                case T.String:
                    string s = t.Value;
                    while (Peek.Kind == T.String) s += Next().Value;   // adjacent literals concatenate
                    return new Literal(s);
                case T.Int: return new Literal(long.Parse(t.Value, CultureInfo.InvariantCulture));
                case T.Float: return new Literal(double.Parse(t.Value, CultureInfo.InvariantCulture));
                case T.Name:
                    return t.Value switch
                    {
                        "true" or "True" => new Literal(true),
                        "false" or "False" => new Literal(false),
                        "none" or "None" => new Literal(null),
                        _ => new NameRef(t.Value),
                    };
                case T.Op when t.Value == "(":
                    Expr inner = ParseExpression();
                    if (IsOp(","))
                    {
                        var items = new List<Expr> { inner };
                        while (IsOp(",")) { _p++; if (IsOp(")")) break; items.Add(ParseExpression()); }
                        ExpectOp(")");
                        return new ListExpr(items);
                    }
                    ExpectOp(")");
                    return inner;
                case T.Op when t.Value == "[":
                    var list = new List<Expr>();
                    while (!IsOp("]")) { list.Add(ParseExpression()); if (!IsOp("]")) ExpectOp(","); }
                    _p++;
                    return new ListExpr(list);
                case T.Op when t.Value == "{":
                    var pairs = new List<(Expr, Expr)>();
                    while (!IsOp("}"))
                    {
                        Expr key = ParseExpression();
                        ExpectOp(":");
                        pairs.Add((key, ParseExpression()));
                        if (!IsOp("}")) ExpectOp(",");
                    }
                    _p++;
                    return new DictExpr(pairs);
                default:
                    throw new JinjaException($"unexpected '{t.Value}' in an expression");
            }
        }
    }

    // ---- evaluation --------------------------------------------------------------------------------------------

    private sealed class Scope(Scope? parent)
    {
        private readonly Dictionary<string, object?> _values = new(StringComparer.Ordinal);

        public object? Get(string name) =>
            _values.TryGetValue(name, out object? v) ? v : parent is not null ? parent.Get(name) : Undefined;

        public void Set(string name, object? value) => _values[name] = value;
    }

    private static void Exec(List<Node> nodes, Scope scope, StringBuilder output)
    {
        foreach (Node node in nodes)
        {
            switch (node)
            {
                case TextNode t: output.Append(t.Text); break;
                case OutputNode o: output.Append(Str(Eval(o.Value, scope))); break;
                case IfNode i:
                    foreach ((Expr? condition, List<Node> body) in i.Branches)
                        if (condition is null || Truthy(Eval(condition, scope)))
                        {
                            Exec(body, scope, output);
                            break;
                        }
                    break;
                case ForNode f: ExecFor(f, scope, output); break;
                case SetNode s:
                    object? value = Eval(s.Value, scope);
                    if (s.Attribute is null) scope.Set(s.Name, value);
                    else if (scope.Get(s.Name) is Namespace ns) ns[s.Attribute] = value;
                    else throw new JinjaException($"cannot set an attribute of '{s.Name}', which is not a namespace");
                    break;
            }
        }
    }

    private static void ExecFor(ForNode f, Scope scope, StringBuilder output)
    {
        object? iterable = Eval(f.Iterable, scope);
        var items = new List<object?>();
        foreach (object? item in iterable is Dictionary<string, object?> d && f.Targets.Count == 2
                     ? d.Select(p => (object?)new List<object?> { p.Key, p.Value })
                     : Iterate(iterable))
        {
            if (f.Filter is not null)
            {
                var probe = new Scope(scope);
                Bind(f.Targets, item, probe);
                if (!Truthy(Eval(f.Filter, probe))) continue;
            }
            items.Add(item);
        }
        if (items.Count == 0)
        {
            Exec(f.Else, scope, output);
            return;
        }
        for (int i = 0; i < items.Count; i++)
        {
            // Jinja: a loop body's assignments do not leak out (only namespace attributes do).
            var inner = new Scope(scope);
            Bind(f.Targets, items[i], inner);
            inner.Set("loop", new Dictionary<string, object?>
            {
                ["index"] = (long)i + 1,
                ["index0"] = (long)i,
                ["revindex"] = (long)(items.Count - i),
                ["revindex0"] = (long)(items.Count - i - 1),
                ["first"] = i == 0,
                ["last"] = i == items.Count - 1,
                ["length"] = (long)items.Count,
                ["previtem"] = i > 0 ? items[i - 1] : Undefined,
                ["nextitem"] = i + 1 < items.Count ? items[i + 1] : Undefined,
            });
            Exec(f.Body, inner, output);
        }
    }

    private static void Bind(List<string> targets, object? item, Scope scope)
    {
        if (targets.Count == 1)
        {
            scope.Set(targets[0], item);
            return;
        }
        if (item is not List<object?> parts || parts.Count != targets.Count) throw new JinjaException("cannot unpack a loop item");
        for (int i = 0; i < targets.Count; i++) scope.Set(targets[i], parts[i]);
    }

    private static object? Eval(Expr e, Scope scope)
    {
        switch (e)
        {
            case Literal l: return l.Value;
            case NameRef n: return scope.Get(n.Name);
            case ListExpr l: return l.Items.Select(i => Eval(i, scope)).ToList();
            case DictExpr d:
                var dict = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach ((Expr k, Expr v) in d.Items) dict[Str(Eval(k, scope))] = Eval(v, scope);
                return dict;
            case Attr a: return GetItem(Eval(a.Target, scope), a.Name);
            case Index i: return GetItem(Eval(i.Target, scope), Eval(i.Key, scope));
            case Slice s: return SliceOf(Eval(s.Target, scope), s.Start is null ? null : Eval(s.Start, scope), s.Stop is null ? null : Eval(s.Stop, scope), s.Step is null ? null : Eval(s.Step, scope));
            case Call c: return CallOf(c, scope);
            case Filter f: return ApplyFilter(Eval(f.Target, scope), f.Name, f.Args.Select(a => Eval(a, scope)).ToList(), f.Kwargs.ToDictionary(k => k.Name, k => Eval(k.Value, scope)));
            case Test t:
                bool result = ApplyTest(Eval(t.Target, scope), t.Name, t.Args.Select(a => Eval(a, scope)).ToList());
                return t.Negated ? !result : result;
            case Unary u:
                object? operand = Eval(u.Operand, scope);
                if (u.Op == "not") return !Truthy(operand);
                // Arms typed object: a switch of long and double arms would widen every result to double.
                return operand switch
                {
                    long x => (object)(-x),
                    double x => (object)(-x),
                    _ => throw new JinjaException($"cannot negate {TypeName(operand)}"),
                };
            case Binary b when b.Op == "and":
                object? left = Eval(b.Left, scope);
                return Truthy(left) ? Eval(b.Right, scope) : left;
            case Binary b when b.Op == "or":
                object? first = Eval(b.Left, scope);
                return Truthy(first) ? first : Eval(b.Right, scope);
            case Binary b: return BinaryOf(b.Op, Eval(b.Left, scope), Eval(b.Right, scope));
            case Conditional c: return Truthy(Eval(c.Condition, scope)) ? Eval(c.Then, scope) : c.Else is null ? Undefined : Eval(c.Else, scope);
            default: throw new JinjaException("unknown expression");
        }
    }

    private static object? BinaryOf(string op, object? a, object? b)
    {
        switch (op)
        {
            case "==": return Eq(a, b);
            case "!=": return !Eq(a, b);
            case "<": return Compare(a, b) < 0;
            case ">": return Compare(a, b) > 0;
            case "<=": return Compare(a, b) <= 0;
            case ">=": return Compare(a, b) >= 0;
            case "~": return Str(a) + Str(b);
            case "in":
                return b switch
                {
                    string s => a is string sub ? s.Contains(sub, StringComparison.Ordinal) : throw new JinjaException("'in <string>' needs a string"),
                    List<object?> list => list.Any(x => Eq(x, a)),
                    Dictionary<string, object?> dict => a is string key && dict.ContainsKey(key),
                    null or UndefinedValue => false,
                    _ => throw new JinjaException($"'in' does not apply to {TypeName(b)}"),
                };
            case "+":
                return (a, b) switch
                {
                    (string x, string y) => x + y,
                    (long x, long y) => (object)(x + y),
                    (long or double, long or double) => (object)(ToDouble(a) + ToDouble(b)),
                    (List<object?> x, List<object?> y) => x.Concat(y).ToList(),
                    _ => throw new JinjaException($"cannot add {TypeName(a)} and {TypeName(b)}"),
                };
            case "-": return Arith(a, b, (x, y) => x - y, (x, y) => x - y);
            case "*":
                if (a is string rep && b is long times) return string.Concat(Enumerable.Repeat(rep, (int)Math.Max(0, times)));
                return Arith(a, b, (x, y) => x * y, (x, y) => x * y);
            case "/": return ToDouble(a) / ToDouble(b);
            case "//": return Arith(a, b, (x, y) => y == 0 ? throw new JinjaException("division by zero") : (long)Math.Floor((double)x / y), (x, y) => Math.Floor(x / y));
            case "%":
                if (a is string format) return PercentFormat(format, b);
                return Arith(a, b, (x, y) => y == 0 ? throw new JinjaException("modulo by zero") : ((x % y) + y) % y, (x, y) => x - y * Math.Floor(x / y));
            default: throw new JinjaException($"unknown operator {op}");
        }
    }

    private static string PercentFormat(string format, object? args)
    {
        List<object?> values = args as List<object?> ?? [args];
        int next = 0;
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] == '%' && i + 1 < format.Length)
            {
                char spec = format[++i];
                if (spec == '%') sb.Append('%');
                else sb.Append(next < values.Count ? Str(values[next++]) : "");
            }
            else sb.Append(format[i]);
        }
        return sb.ToString();
    }

    private static double ToDouble(object? v) => v switch
    {
        long l => l,
        double d => d,
        bool b => b ? 1 : 0,
        _ => throw new JinjaException($"{TypeName(v)} is not a number"),
    };

    private static object Arith(object? a, object? b, Func<long, long, long> onLong, Func<double, double, double> onDouble) =>
        a is long x && b is long y ? (object)onLong(x, y) : onDouble(ToDouble(a), ToDouble(b));

    private static object? GetItem(object? target, object? key)
    {
        switch (target)
        {
            case Dictionary<string, object?> dict when key is string k:
                return dict.TryGetValue(k, out object? v) ? v : key is string method && IsMethodName(target, method) ? new BoundMethod(target, method) : Undefined;
            case List<object?> list when key is long index:
                long at = index < 0 ? list.Count + index : index;
                return at >= 0 && at < list.Count ? list[(int)at] : Undefined;
            case string s when key is long index:
                long pos = index < 0 ? s.Length + index : index;
                return pos >= 0 && pos < s.Length ? s[(int)pos].ToString() : Undefined;
            case null or UndefinedValue:
                return Undefined;
            default:
                return key is string name && IsMethodName(target, name) ? new BoundMethod(target, name) : Undefined;
        }
    }

    private sealed record BoundMethod(object? Target, string Name);

    private static bool IsMethodName(object? target, string name) => target switch
    {
        string => name is "strip" or "lstrip" or "rstrip" or "startswith" or "endswith" or "split" or "upper" or "lower" or "replace" or "title" or "capitalize" or "find" or "count",
        Dictionary<string, object?> => name is "get" or "items" or "keys" or "values",
        List<object?> => name is "append" or "index" or "count",
        _ => false,
    };

    private static object? SliceOf(object? target, object? start, object? stop, object? step)
    {
        long st = step is long s ? s : 1;
        if (st == 0) throw new JinjaException("slice step cannot be zero");
        List<object?> items = target switch
        {
            List<object?> l => l,
            string str => str.Select(c => (object?)c.ToString()).ToList(),
            _ => throw new JinjaException($"cannot slice {TypeName(target)}"),
        };
        int n = items.Count;
        long Norm(object? v, long fallback) => v is long x ? (x < 0 ? Math.Max(x + n, st > 0 ? 0 : -1) : Math.Min(x, st > 0 ? n : n - 1)) : fallback;
        long from = Norm(start, st > 0 ? 0 : n - 1), to = Norm(stop, st > 0 ? n : -1);
        var result = new List<object?>();
        for (long i = from; st > 0 ? i < to : i > to; i += st) result.Add(items[(int)i]);
        return target is string ? string.Concat(result.Select(Str)) : result;
    }

    private static object? CallOf(Call c, Scope scope)
    {
        List<object?> args = c.Args.Select(a => Eval(a, scope)).ToList();
        Dictionary<string, object?> kwargs = c.Kwargs.ToDictionary(k => k.Name, k => Eval(k.Value, scope));
        if (c.Target is NameRef { Name: var fn } && IsUndefined(scope.Get(fn)))
        {
            switch (fn)
            {
                case "raise_exception": throw new JinjaException(args.Count > 0 ? Str(args[0]) : "raise_exception was called");
                case "namespace":
                    var ns = new Namespace();
                    foreach ((string k, object? v) in kwargs) ns[k] = v;
                    return ns;
                case "range":
                    long a0 = args.Count > 1 ? (long)args[0]! : 0, a1 = args.Count > 1 ? (long)args[1]! : (long)args[0]!, a2 = args.Count > 2 ? (long)args[2]! : 1;
                    var range = new List<object?>();
                    for (long i = a0; a2 > 0 ? i < a1 : i > a1; i += a2) range.Add(i);
                    return range;
                case "strftime_now":
                    return DateTime.Now.ToString(StrftimeToNet(args.Count > 0 ? Str(args[0]) : "%Y-%m-%d"), CultureInfo.InvariantCulture);
                default: throw new JinjaException($"unknown function '{fn}'");
            }
        }
        if (Eval(c.Target, scope) is not BoundMethod m) throw new JinjaException("call of something that is not a function");
        return CallMethod(m.Target, m.Name, args);
    }

    private static string StrftimeToNet(string format) => format
        .Replace("%Y", "yyyy", StringComparison.Ordinal).Replace("%m", "MM", StringComparison.Ordinal).Replace("%d", "dd", StringComparison.Ordinal)
        .Replace("%B", "MMMM", StringComparison.Ordinal).Replace("%b", "MMM", StringComparison.Ordinal).Replace("%H", "HH", StringComparison.Ordinal)
        .Replace("%M", "mm", StringComparison.Ordinal);

    private static object? CallMethod(object? target, string name, List<object?> args)
    {
        switch (target)
        {
            case string s:
                string? chars = args.Count > 0 && args[0] is string c ? c : null;
                return name switch
                {
                    "strip" => chars is null ? s.Trim() : s.Trim(chars.ToCharArray()),
                    "lstrip" => chars is null ? s.TrimStart() : s.TrimStart(chars.ToCharArray()),
                    "rstrip" => chars is null ? s.TrimEnd() : s.TrimEnd(chars.ToCharArray()),
                    "startswith" => args[0] is List<object?> any ? any.Any(p => s.StartsWith(Str(p), StringComparison.Ordinal)) : s.StartsWith(Str(args[0]), StringComparison.Ordinal),
                    "endswith" => args[0] is List<object?> any ? any.Any(p => s.EndsWith(Str(p), StringComparison.Ordinal)) : s.EndsWith(Str(args[0]), StringComparison.Ordinal),
                    "split" => (args.Count == 0 || args[0] is null
                        ? s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)
                        : s.Split(Str(args[0]), args.Count > 1 && args[1] is long max ? (int)max + 1 : int.MaxValue, StringSplitOptions.None)).Select(x => (object?)x).ToList(),
                    "upper" => s.ToUpperInvariant(),
                    "lower" => s.ToLowerInvariant(),
                    "title" => Title(s),
                    "capitalize" => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant(),
                    "replace" => s.Replace(Str(args[0]), Str(args[1]), StringComparison.Ordinal),
                    "find" => (long)s.IndexOf(Str(args[0]), StringComparison.Ordinal),
                    "count" => (long)((s.Length - s.Replace(Str(args[0]), "", StringComparison.Ordinal).Length) / Math.Max(1, Str(args[0]).Length)),
                    _ => throw new JinjaException($"str has no method {name}"),
                };
            case Dictionary<string, object?> d:
                return name switch
                {
                    "get" => args.Count > 0 && args[0] is string key && d.TryGetValue(key, out object? v) ? v : args.Count > 1 ? args[1] : null,
                    "items" => d.Select(p => (object?)new List<object?> { p.Key, p.Value }).ToList(),
                    "keys" => d.Keys.Select(k => (object?)k).ToList(),
                    "values" => d.Values.ToList(),
                    _ => throw new JinjaException($"dict has no method {name}"),
                };
            case List<object?> l:
                switch (name)
                {
                    case "append": l.Add(args[0]); return null;
                    case "index": return (long)l.FindIndex(x => Eq(x, args[0]));
                    default: return (long)l.Count(x => Eq(x, args[0]));
                }
            default: throw new JinjaException($"{TypeName(target)} has no method {name}");
        }
    }

    private static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool start = true;
        foreach (char c in s)
        {
            sb.Append(start ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c));
            start = !char.IsLetter(c);
        }
        return sb.ToString();
    }

    private static bool ApplyTest(object? v, string name, List<object?> args) => name switch
    {
        "defined" => !IsUndefined(v),
        "undefined" => IsUndefined(v),
        "none" => v is null,
        "string" => v is string,
        "number" => v is long or double,
        "integer" => v is long,
        "float" => v is double,
        "boolean" => v is bool,
        "true" => v is true,
        "false" => v is false,
        "mapping" => v is Dictionary<string, object?>,
        "sequence" or "iterable" => v is List<object?> or string or Dictionary<string, object?>,
        "even" => v is long l && l % 2 == 0,
        "odd" => v is long l && l % 2 != 0,
        "equalto" or "eq" or "sameas" => Eq(v, args.Count > 0 ? args[0] : null),
        _ => throw new JinjaException($"unknown test '{name}'"),
    };

    private static object? ApplyFilter(object? v, string name, List<object?> args, Dictionary<string, object?> kwargs)
    {
        switch (name)
        {
            case "trim": return Str(v).Trim();
            case "upper": return Str(v).ToUpperInvariant();
            case "lower": return Str(v).ToLowerInvariant();
            case "title": return Title(Str(v));
            case "capitalize": string c = Str(v); return c.Length == 0 ? c : char.ToUpperInvariant(c[0]) + c[1..].ToLowerInvariant();
            case "string": return Str(v);
            case "safe" or "e" or "escape": return v;
            case "length" or "count":
                return v switch
                {
                    string s => (long)s.Length,
                    System.Collections.ICollection col => (long)col.Count,
                    _ => 0L,
                };
            case "default" or "d":
                bool boolean = args.Count > 1 && Truthy(args[1]) || kwargs.TryGetValue("boolean", out object? b) && Truthy(b);
                return IsUndefined(v) || (boolean && !Truthy(v)) ? (args.Count > 0 ? args[0] : "") : v;
            case "int": return v switch { long l => l, double x => (long)x, string s when long.TryParse(s.Trim(), CultureInfo.InvariantCulture, out long p) => p, _ => 0L };
            case "float": return v switch { long l => (double)l, double x => x, string s when double.TryParse(s, CultureInfo.InvariantCulture, out double p) => p, _ => 0.0 };
            case "join":
                string separator = args.Count > 0 ? Str(args[0]) : kwargs.TryGetValue("d", out object? sep) ? Str(sep) : "";
                return string.Join(separator, Iterate(v).Select(Str));
            case "first": return Iterate(v).FirstOrDefault(Undefined);
            case "last": return v is List<object?> { Count: > 0 } list ? list[^1] : Undefined;
            case "list": return Iterate(v).ToList();
            case "reverse": return v is string rs ? new string(rs.Reverse().ToArray()) : Iterate(v).Reverse().ToList();
            case "replace": return Str(v).Replace(Str(args[0]), Str(args[1]), StringComparison.Ordinal);
            case "items": return v is Dictionary<string, object?> d ? d.Select(p => (object?)new List<object?> { p.Key, p.Value }).ToList() : new List<object?>();
            case "tojson": return ToJson(v, kwargs.TryGetValue("indent", out object? indent) && indent is long n ? (int)n : null);
            case "selectattr" or "rejectattr":
                bool select = name == "selectattr";
                string attribute = Str(args[0]);
                return Iterate(v).Where(item =>
                {
                    object? value = GetItem(item, attribute);
                    bool hit = args.Count > 1 ? ApplyTest(value, Str(args[1]), args.Skip(2).ToList()) : Truthy(value);
                    return hit == select;
                }).ToList();
            case "map":
                if (kwargs.TryGetValue("attribute", out object? attr)) return Iterate(v).Select(item => GetItem(item, Str(attr))).ToList();
                if (args.Count > 0) return Iterate(v).Select(item => ApplyFilter(item, Str(args[0]), args.Skip(1).ToList(), [])).ToList();
                return Iterate(v).ToList();
            case "indent":
                int width = args.Count > 0 && args[0] is long w ? (int)w : 4;
                string pad = new(' ', width);
                return Str(v).Replace("\n", "\n" + pad, StringComparison.Ordinal);
            default: throw new JinjaException($"unknown filter '{name}'");
        }
    }

    /// <summary>Python's json.dumps(ensure_ascii=False): ", " and ": " separators, or one item per line with indent.</summary>
    private static string ToJson(object? v, int? indent)
    {
        var sb = new StringBuilder();
        void Write(object? x, int depth)
        {
            string nl = indent is null ? "" : "\n" + new string(' ', indent.Value * (depth + 1));
            string close = indent is null ? "" : "\n" + new string(' ', indent.Value * depth);
            string comma = indent is null ? ", " : ",";
            switch (x)
            {
                case null or UndefinedValue: sb.Append("null"); break;
                case bool b: sb.Append(b ? "true" : "false"); break;
                case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
                case double d: sb.Append(d.ToString("R", CultureInfo.InvariantCulture)); break;
                case string s: sb.Append(System.Text.Json.JsonSerializer.Serialize(s, s_jsonOptions)); break;
                case List<object?> list:
                    if (list.Count == 0) { sb.Append("[]"); break; }
                    sb.Append('[');
                    for (int i = 0; i < list.Count; i++) { sb.Append(i > 0 ? comma : "").Append(nl); Write(list[i], depth + 1); }
                    sb.Append(close).Append(']');
                    break;
                case Dictionary<string, object?> dict:
                    if (dict.Count == 0) { sb.Append("{}"); break; }
                    sb.Append('{');
                    int k = 0;
                    foreach ((string key, object? value) in dict)
                    {
                        sb.Append(k++ > 0 ? comma : "").Append(nl).Append(System.Text.Json.JsonSerializer.Serialize(key, s_jsonOptions)).Append(": ");
                        Write(value, depth + 1);
                    }
                    sb.Append(close).Append('}');
                    break;
                default: sb.Append(System.Text.Json.JsonSerializer.Serialize(Str(x), s_jsonOptions)); break;
            }
        }
        Write(v, 0);
        return sb.ToString();
    }

    private static readonly System.Text.Json.JsonSerializerOptions s_jsonOptions = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
