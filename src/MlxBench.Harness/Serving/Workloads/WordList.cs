namespace MlxBench.Harness.Serving.Workloads;

/// <summary>
/// Common English words (281): the seed text whose tokenization gives a model's ordinary (non-special) token
/// ids, and the prompts of last resort for servers with no tokenizer endpoints.
/// </summary>
internal static class WordList
{
    public static readonly string[] Words =
    [
        "the", "of", "and", "to", "in", "is", "was", "that", "for", "on", "with", "as", "by", "at", "from", "his",
        "her", "they", "this", "be", "are", "or", "not", "have", "had", "one", "all", "were", "when", "we", "there",
        "can", "an", "your", "which", "their", "said", "if", "do", "will", "each", "about", "how", "up", "out",
        "them", "then", "she", "many", "some", "so", "these", "would", "other", "into", "has", "more", "two", "like",
        "him", "time", "see", "no", "way", "could", "people", "my", "than", "first", "water", "been", "call", "who",
        "its", "now", "find", "long", "down", "day", "did", "get", "come", "made", "may", "part", "over", "new",
        "sound", "take", "only", "little", "work", "know", "place", "year", "live", "me", "back", "give", "most",
        "very", "after", "thing", "our", "just", "name", "good", "sentence", "man", "think", "say", "great", "where",
        "help", "through", "much", "before", "line", "right", "too", "mean", "old", "any", "same", "tell", "boy",
        "follow", "came", "want", "show", "also", "around", "form", "three", "small", "set", "put", "end", "does",
        "another", "well", "large", "must", "big", "even", "such", "because", "turn", "here", "why", "ask", "went",
        "men", "read", "need", "land", "different", "home", "us", "move", "try", "kind", "hand", "picture", "again",
        "change", "off", "play", "spell", "air", "away", "animal", "house", "point", "page", "letter", "mother",
        "answer", "found", "study", "still", "learn", "should", "world", "high", "every", "near", "add", "food",
        "between", "own", "below", "country", "plant", "last", "school", "father", "keep", "tree", "never", "start",
        "city", "earth", "eye", "light", "thought", "head", "under", "story", "saw", "left", "few", "while", "along",
        "might", "close", "something", "seem", "next", "hard", "open", "example", "begin", "life", "always", "those",
        "both", "paper", "together", "got", "group", "often", "run", "important", "until", "children", "side",
        "feet", "car", "mile", "night", "walk", "white", "sea", "began", "grow", "took", "river", "four", "carry",
        "state", "once", "book", "hear", "stop", "without", "second", "later", "miss", "idea", "enough", "eat",
        "face", "watch", "far", "real", "almost", "let", "above", "girl", "sometimes", "mountain", "cut", "young",
        "talk", "soon", "list", "song", "being", "leave", "family"
    ];
}
