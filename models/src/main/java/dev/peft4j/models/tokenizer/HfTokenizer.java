package dev.peft4j.models.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.api.UserException;
import org.eclipse.collections.api.list.primitive.MutableIntList;
import org.eclipse.collections.impl.list.mutable.primitive.IntArrayList;
import org.eclipse.collections.impl.map.mutable.primitive.LongLongHashMap;
import org.eclipse.collections.impl.map.mutable.primitive.ObjectIntHashMap;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * A Hugging Face {@code tokenizer.json} with a BPE model, encoding as the {@code tokenizers} library does.
 * Two layouts are covered:
 * <ul>
 *   <li>byte-level BPE (LLaMA 3, GPT-2): pre-tokenizer Split(regex) and/or ByteLevel; each piece's UTF-8 bytes
 *       are mapped to printable characters (GPT-2's byte map) before merging, and back when decoding;</li>
 *   <li>SentencePiece-style BPE with byte fallback (Llama 2): normalizer Prepend("▁") + Replace(" ", "▁") or
 *       pre-tokenizer Metaspace; a character outside the vocabulary becomes its {@code <0xXX>} byte tokens.</li>
 * </ul>
 * Added tokens are cut out of the text first (leftmost, longest first), so {@code "<|begin_of_text|>"} in the
 * text is that token. BPE merges the adjacent pair of lowest merge rank, leftmost on ties, with a priority
 * queue; with {@code ignore_merges} a piece that is itself in the vocabulary is one token.
 *
 * <p>Decoding drops special tokens and is a byte stream for both layouts; it differs from {@code tokenizers}
 * only on invalid UTF-8, where each byte that cannot start a character becomes one U+FFFD.
 *
 * <p>Thread-safe: read-only after construction except for a concurrent cache of encoded words.
 */
public final class HfTokenizer implements Tokenizer {
    /** GPT-2's ByteLevel pre-tokenizer regex, used when a ByteLevel pre-tokenizer has {@code use_regex}. */
    private static final String GPT2_SPLIT = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    private static final int CACHE_LIMIT = 50_000, CACHED_WORD_MAX = 256;

    private final String name;
    private final String[] tokens;                    // [vocab] token text by id (null for gaps)
    private final boolean[] special;                  // [vocab] added tokens marked special (dropped by decode)
    private final ObjectIntHashMap<String> vocab;     // BPE vocabulary, token -> id
    private final LongLongHashMap merges;             // (left id << 32 | right id) -> (rank << 32 | merged id)
    private final String[] addedTokens;               // longest first
    private final ObjectIntHashMap<String> addedIds;
    private final BitSet addedFirstChars;             // first chars of the added tokens, to skip most positions fast
    private final List<UnaryOperator<String>> normalizers;
    private final List<Step> steps;                   // the pre-tokenizer, in order
    private final boolean byteLevel, ignoreMerges, fuseUnk;
    private final int unkId;                          // -1 if the model has no unk_token
    private final int[] byteFallbackIds;              // [256] ids of <0xXX>, or null without byte_fallback
    private final int[] tokenByte;                    // [vocab] the byte of a <0xXX> token under byte fallback, else -1
    private final char[] byteToChar = new char[256];  // GPT-2 byte map
    private final int[] charToByte = new int[324];    // its inverse, -1 where undefined
    private final List<UnaryOperator<String>> tokenDecoders; // per-token text rewrites of the decoder (Replace, Metaspace)
    private final boolean stripFirstTokenSpace;       // Metaspace decoder: the first token loses a leading space
    private final int stripLeadingSpaces;             // Strip decoder after Fuse: leading spaces removed from the text
    private final int bosId, eosId;
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    /** One pre-tokenizer step. */
    private sealed interface Step { }

    /** Split with behavior "Isolated": matches and the stretches between them are pieces. */
    private record Split(Pattern pattern) implements Step { }

    /** ByteLevel: an optional leading space and GPT-2's regex split (the byte mapping is done before BPE). */
    private record ByteLevelStep(Pattern pattern, boolean prefixSpace) implements Step { }

    /** Metaspace: spaces become the replacement character, prepended per the scheme, optionally split before it. */
    private record Metaspace(String replacement, String prependScheme, boolean split) implements Step { }

    /** Loads a {@code tokenizer.json}. */
    public static HfTokenizer load(Path file) {
        JsonNode root;
        try (InputStream in = Files.newInputStream(file)) {
            root = new ObjectMapper().readTree(in);
        } catch (IOException e) {
            throw new UserException(file + ": cannot read the tokenizer.json (" + e.getMessage() + ")", e);
        }
        if (root == null || !root.isObject()) throw new UserException(file + ": not a tokenizer.json (no JSON object)");
        return new HfTokenizer(root, file.toString(), -1, -1);
    }

    /**
     * A tokenizer from a {@code tokenizer.json} tree; {@code bos}/{@code eos} when non-negative replace the
     * ids read from its post-processor (a GGUF file states them).
     */
    HfTokenizer(JsonNode root, String name, int bos, int eos) {
        this.name = name;
        JsonNode model = root.path("model");
        if (!"BPE".equals(model.path("type").asText("BPE")) || !model.has("merges")) {
            throw new UserException(name + ": model type " + model.path("type") + " is not supported (only BPE)");
        }
        ignoreMerges = model.path("ignore_merges").asBoolean(false);
        fuseUnk = model.path("fuse_unk").asBoolean(false);
        initByteMap();

        JsonNode vocabNode = model.path("vocab");
        if (!vocabNode.isObject() || vocabNode.isEmpty()) throw new UserException(name + ": model.vocab is missing or empty");
        vocab = new ObjectIntHashMap<>(vocabNode.size() * 2);
        int maxId = -1;
        for (var it = vocabNode.fields(); it.hasNext(); ) {
            var e = it.next();
            int id = e.getValue().asInt(-1);
            if (id < 0 || !e.getValue().isNumber()) throw new UserException(name + ": vocab entry " + e.getKey() + " has id " + e.getValue());
            vocab.put(e.getKey(), id);
            maxId = Math.max(maxId, id);
        }
        JsonNode added = root.path("added_tokens");
        for (JsonNode a : added) maxId = Math.max(maxId, a.path("id").asInt(-1));
        tokens = new String[maxId + 1];
        special = new boolean[maxId + 1];
        vocab.forEachKeyValue((t, id) -> tokens[id] = t);
        addedIds = new ObjectIntHashMap<>();
        for (JsonNode a : added) {
            String content = a.path("content").asText("");
            int id = a.path("id").asInt(-1);
            if (content.isEmpty() || id < 0) throw new UserException(name + ": added token " + a + " has no content or id");
            tokens[id] = content;
            special[id] = a.path("special").asBoolean(false);
            addedIds.put(content, id);
        }
        addedTokens = addedIds.keysView().toSortedList((x, y) -> y.length() - x.length()).toArray(new String[0]);
        addedFirstChars = new BitSet();
        for (String a : addedTokens) addedFirstChars.set(a.charAt(0));

        String unk = model.path("unk_token").isTextual() ? model.get("unk_token").asText() : null;
        unkId = unk == null ? -1 : vocab.getIfAbsent(unk, addedIds.getIfAbsent(unk, -1));
        if (unk != null && unkId < 0) throw new UserException(name + ": unk_token " + unk + " is not in the vocab");
        tokenByte = new int[maxId + 1];
        Arrays.fill(tokenByte, -1);
        if (model.path("byte_fallback").asBoolean(false)) {
            byteFallbackIds = new int[256];
            for (int b = 0; b < 256; b++) {
                String piece = "<0x" + SentencePieceTokenizer.hex(b) + ">";
                byteFallbackIds[b] = vocab.getIfAbsent(piece, -1);
                if (byteFallbackIds[b] < 0) throw new UserException(name + ": byte_fallback is on but " + piece + " is not in the vocab");
                tokenByte[byteFallbackIds[b]] = b;
            }
        } else {
            byteFallbackIds = null;
        }

        merges = new LongLongHashMap();
        int rank = 0;
        for (JsonNode m : model.path("merges")) {
            String a, b;
            if (m.isArray() && m.size() == 2) {
                a = m.get(0).asText();
                b = m.get(1).asText();
            } else if (m.isTextual() && m.asText().indexOf(' ') > 0 && m.asText().indexOf(' ') == m.asText().lastIndexOf(' ')) {
                String s = m.asText();
                a = s.substring(0, s.indexOf(' '));
                b = s.substring(s.indexOf(' ') + 1);
            } else {
                throw new UserException(name + ": merge " + rank + " is " + m + ", expected \"a b\" or [\"a\", \"b\"]");
            }
            int ia = vocab.getIfAbsent(a, -1), ib = vocab.getIfAbsent(b, -1), merged = vocab.getIfAbsent(a + b, -1);
            if (ia < 0 || ib < 0 || merged < 0) throw new UserException(name + ": merge " + rank + " " + m + " uses a token missing from the vocab");
            merges.put(pairKey(ia, ib), (long) rank << 32 | merged); // a repeated merge keeps its last rank, as tokenizers does
            rank++;
        }

        normalizers = new ArrayList<>();
        readNormalizer(root.path("normalizer"));
        List<Step> pipeline = new ArrayList<>();
        readPreTokenizer(root.path("pre_tokenizer"), pipeline);
        steps = List.copyOf(pipeline);
        byteLevel = steps.stream().anyMatch(s -> s instanceof ByteLevelStep);
        if (byteLevel && byteFallbackIds != null) throw new UserException(name + ": a ByteLevel pre-tokenizer with byte_fallback is not supported");

        tokenDecoders = new ArrayList<>();
        int[] strip = {0, 0}; // [0]: leading spaces stripped from the text, [1]: Metaspace strips the first token
        readDecoder(root.path("decoder"), strip, false);
        stripLeadingSpaces = strip[0];
        stripFirstTokenSpace = strip[1] != 0;

        int[] bosEos = specialIds(root.path("post_processor"));
        bosId = bos >= 0 ? bos : bosEos[0];
        eosId = eos >= 0 ? eos : bosEos[1];
    }

    /** The vocabulary as GGUF's {@code gpt2} tokenizer stores it: token texts, token types, merges by rank. */
    record BpeVocabulary(String[] tokens, int[] types, String[] merges, String pre) {}

    /** LLaMA 3's pre-tokenizer regex (the Split of its tokenizer.json, llama.cpp's "llama-bpe"). */
    static final String LLAMA3_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    /**
     * This tokenizer as GGUF's byte-level BPE; {@code pre} is llama.cpp's name of the pre-tokenizer
     * ("llama-bpe" for LLaMA 3's Split + ByteLevel, "gpt2" for a ByteLevel with GPT-2's regex), null when it
     * is neither (such a tokenizer cannot be written to GGUF).
     */
    BpeVocabulary bpeVocabulary() {
        int n = tokens.length;
        String[] text = new String[n];
        int[] types = new int[n];
        for (int id = 0; id < n; id++) {
            text[id] = tokens[id] == null ? "[PAD" + id + "]" : tokens[id];
            types[id] = tokens[id] == null ? SentencePieceModel.UNUSED
                    : special[id] ? SentencePieceModel.CONTROL
                    : addedIds.containsKey(tokens[id]) && !vocab.containsKey(tokens[id]) ? SentencePieceModel.USER_DEFINED
                    : SentencePieceModel.NORMAL;
        }
        long[][] byRank = new long[merges.size()][];
        int[] i = {0};
        merges.forEachKeyValue((pair, rankMerged) -> byRank[i[0]++] = new long[]{rankMerged >>> 32, pair});
        java.util.Arrays.sort(byRank, (a, b) -> Long.compare(a[0], b[0]));
        String[] m = new String[byRank.length];
        for (int k = 0; k < m.length; k++) m[k] = tokens[(int) (byRank[k][1] >>> 32)] + " " + tokens[(int) byRank[k][1]];
        String pre = null;
        if (byteLevel && normalizers.isEmpty()) {
            if (steps.size() == 2 && steps.get(0) instanceof Split sp && sp.pattern().pattern().equals(compile(LLAMA3_SPLIT).pattern())
                    && steps.get(1) instanceof ByteLevelStep bl && bl.pattern() == null && !bl.prefixSpace()) {
                pre = "llama-bpe";
            } else if (steps.size() == 1 && steps.get(0) instanceof ByteLevelStep bl && bl.pattern() != null && !bl.prefixSpace()) {
                pre = "gpt2";
            }
        }
        return new BpeVocabulary(text, types, m, pre);
    }

    private static long pairKey(int left, int right) {
        return (long) left << 32 | (right & 0xFFFFFFFFL);
    }

    private void readNormalizer(JsonNode n) {
        if (n.isNull() || n.isMissingNode()) return;
        String type = n.path("type").asText("");
        switch (type) {
            case "Sequence" -> {
                for (JsonNode step : n.path("normalizers")) readNormalizer(step);
            }
            case "Prepend" -> {
                String p = n.path("prepend").asText();
                normalizers.add(s -> s.isEmpty() ? s : p + s);
            }
            case "Replace" -> normalizers.add(replacer(n, "normalizer"));
            case "NFC" -> normalizers.add(s -> Normalizer.normalize(s, Normalizer.Form.NFC));
            case "NFD" -> normalizers.add(s -> Normalizer.normalize(s, Normalizer.Form.NFD));
            case "NFKC" -> normalizers.add(s -> Normalizer.normalize(s, Normalizer.Form.NFKC));
            case "NFKD" -> normalizers.add(s -> Normalizer.normalize(s, Normalizer.Form.NFKD));
            case "Lowercase" -> normalizers.add(s -> s.toLowerCase(Locale.ROOT));
            default -> throw new UserException(name + ": normalizer " + (type.isEmpty() ? n.toString() : type) + " is not supported");
        }
    }

    /** A Replace normalizer or decoder: a literal string or a regex, replaced everywhere by {@code content}. */
    private UnaryOperator<String> replacer(JsonNode n, String where) {
        JsonNode pattern = n.path("pattern");
        String content = n.path("content").asText();
        if (pattern.has("String")) {
            String target = pattern.get("String").asText();
            return s -> s.replace(target, content);
        }
        if (pattern.has("Regex")) {
            Pattern p = compile(pattern.get("Regex").asText());
            String replacement = Matcher.quoteReplacement(content);
            return s -> p.matcher(s).replaceAll(replacement);
        }
        throw new UserException(name + ": Replace " + where + " has no String or Regex pattern");
    }

    private void readPreTokenizer(JsonNode p, List<Step> out) {
        if (p.isNull() || p.isMissingNode()) return;
        String type = p.path("type").asText("");
        switch (type) {
            case "Sequence" -> {
                for (JsonNode step : p.path("pretokenizers")) readPreTokenizer(step, out);
            }
            case "Split" -> {
                String behavior = p.path("behavior").asText("");
                if (!behavior.equals("Isolated") || p.path("invert").asBoolean(false)) {
                    throw new UserException(name + ": Split pre-tokenizer with behavior " + behavior
                            + (p.path("invert").asBoolean(false) ? ", inverted," : "") + " is not supported (only Isolated)");
                }
                JsonNode pattern = p.path("pattern");
                String regex = pattern.has("Regex") ? pattern.get("Regex").asText() : Pattern.quote(pattern.path("String").asText());
                out.add(new Split(compile(regex)));
            }
            case "ByteLevel" -> out.add(new ByteLevelStep(p.path("use_regex").asBoolean(true) ? compile(GPT2_SPLIT) : null,
                    p.path("add_prefix_space").asBoolean(false)));
            case "Metaspace" -> out.add(new Metaspace(p.path("replacement").asText("\u2581"), prependScheme(p), p.path("split").asBoolean(true)));
            default -> throw new UserException(name + ": pre_tokenizer " + (type.isEmpty() ? p.toString() : type) + " is not supported");
        }
    }

    /** Metaspace's prepend scheme; older files say {@code add_prefix_space} instead (true meaning "always"). */
    private static String prependScheme(JsonNode p) {
        if (p.has("prepend_scheme")) return p.get("prepend_scheme").asText();
        return p.path("add_prefix_space").asBoolean(true) ? "always" : "never";
    }

    /** Reads the decoder into per-token rewrites plus the leading-space stripping rules. */
    private void readDecoder(JsonNode d, int[] strip, boolean fused) {
        if (d.isNull() || d.isMissingNode()) return;
        String type = d.path("type").asText("");
        switch (type) {
            case "Sequence" -> {
                boolean f = fused;
                for (JsonNode step : d.path("decoders")) {
                    readDecoder(step, strip, f);
                    f |= step.path("type").asText().equals("Fuse");
                }
            }
            case "ByteLevel", "ByteFallback", "Fuse" -> { } // bytes and concatenation are how decoding works anyway
            case "Replace" -> tokenDecoders.add(replacer(d, "decoder"));
            case "Metaspace" -> {
                String replacement = d.path("replacement").asText("\u2581");
                tokenDecoders.add(s -> s.replace(replacement, " "));
                if (!prependScheme(d).equals("never")) strip[1] = 1;
            }
            case "Strip" -> {
                if (!d.path("content").asText().equals(" ") || d.path("stop").asInt(0) != 0 || !fused) {
                    throw new UserException(name + ": Strip decoder " + d + " is not supported (only leading spaces, after Fuse)");
                }
                strip[0] = d.path("start").asInt(0);
            }
            default -> throw new UserException(name + ": decoder " + (type.isEmpty() ? d.toString() : type) + " is not supported");
        }
    }

    /**
     * Compiles a {@code tokenizers} (Oniguruma) regex with java.util.regex: {@code \s}, {@code \w}, {@code \d}
     * as Unicode classes (UNICODE_CHARACTER_CLASS) and case-insensitive groups folding Unicode case, as
     * Oniguruma does; {@code \p{L}}, {@code \p{N}}, lookahead and the rest mean the same in both.
     */
    private Pattern compile(String regex) {
        try {
            return Pattern.compile(regex.replace("(?i:", "(?iu:"), Pattern.UNICODE_CHARACTER_CLASS);
        } catch (PatternSyntaxException e) {
            throw new UserException(name + ": regex " + regex + " does not compile: " + e.getDescription());
        }
    }

    /** BOS and EOS: the special tokens around the sequence in a TemplateProcessing post-processor, else by name. */
    private int[] specialIds(JsonNode post) {
        int bos = -1, eos = -1;
        if ("TemplateProcessing".equals(post.path("type").asText())) {
            boolean seenSequence = false;
            for (JsonNode item : post.path("single")) {
                if (item.has("Sequence")) {
                    seenSequence = true;
                } else if (item.has("SpecialToken")) {
                    String id = item.get("SpecialToken").path("id").asText();
                    JsonNode ids = post.path("special_tokens").path(id).path("ids");
                    int tokenId = ids.isArray() && ids.size() == 1 ? ids.get(0).asInt() : addedIds.getIfAbsent(id, -1);
                    if (seenSequence) eos = tokenId;
                    else bos = tokenId;
                }
            }
        }
        if (bos < 0) bos = firstAdded("<|begin_of_text|>", "<s>", "<|startoftext|>");
        if (eos < 0) eos = firstAdded("<|end_of_text|>", "</s>", "<|endoftext|>");
        return new int[]{bos, eos};
    }

    private int firstAdded(String... names) {
        for (String n : names) {
            int id = addedIds.getIfAbsent(n, -1);
            if (id >= 0) return id;
        }
        return -1;
    }

    /** GPT-2's map from bytes to printable characters: printable Latin-1 stays, the rest moves to 256+. */
    private void initByteMap() {
        Arrays.fill(charToByte, -1);
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
            char c = printable ? (char) b : (char) (256 + n++);
            byteToChar[b] = c;
            charToByte[c] = b;
        }
    }

    @Override
    public int[] encode(String text, boolean bos, boolean eos) {
        MutableIntList out = new IntArrayList(text.length() / 3 + 2);
        if (bos && bosId >= 0) out.add(bosId);
        int start = 0;
        for (int pos = 0; pos < text.length(); ) {
            String hit = addedFirstChars.get(text.charAt(pos)) ? addedAt(text, pos) : null;
            if (hit == null) {
                pos++;
                continue;
            }
            encodeSegment(text.substring(start, pos), start == 0, out);
            out.add(addedIds.get(hit));
            pos += hit.length();
            start = pos;
        }
        encodeSegment(text.substring(start), start == 0, out);
        if (eos && eosId >= 0) out.add(eosId);
        return out.toArray();
    }

    private String addedAt(String text, int pos) {
        for (String a : addedTokens) if (text.startsWith(a, pos)) return a;
        return null;
    }

    /** Normalizes and pre-tokenizes one stretch of text between added tokens, then BPE-encodes each piece. */
    private void encodeSegment(String segment, boolean atTextStart, MutableIntList out) {
        if (segment.isEmpty()) return;
        for (UnaryOperator<String> n : normalizers) segment = n.apply(segment);
        List<String> pieces = List.of(segment);
        for (Step step : steps) {
            List<String> next = new ArrayList<>();
            for (int i = 0; i < pieces.size(); i++) {
                String piece = pieces.get(i);
                switch (step) {
                    case Split s -> split(s.pattern(), piece, next);
                    case ByteLevelStep b -> {
                        if (b.prefixSpace() && !piece.startsWith(" ")) piece = " " + piece;
                        if (b.pattern() == null) next.add(piece);
                        else split(b.pattern(), piece, next);
                    }
                    case Metaspace m -> {
                        piece = piece.replace(" ", m.replacement());
                        boolean prepend = m.prependScheme().equals("always") || (m.prependScheme().equals("first") && atTextStart && i == 0);
                        if (prepend && !piece.startsWith(m.replacement())) piece = m.replacement() + piece;
                        if (m.split()) splitBefore(piece, m.replacement(), next);
                        else next.add(piece);
                    }
                }
            }
            pieces = next;
        }
        for (String piece : pieces) {
            if (piece.isEmpty()) continue;
            String word = byteLevel ? toByteLevel(piece) : piece;
            int[] ids = word.length() <= CACHED_WORD_MAX ? cache.get(word) : null;
            if (ids == null) {
                ids = bpe(word);
                if (word.length() <= CACHED_WORD_MAX && cache.size() < CACHE_LIMIT) cache.put(word, ids);
            }
            out.addAll(ids);
        }
    }

    /** "Isolated" split: every match is a piece, and so is every stretch between matches. */
    private static void split(Pattern p, String s, List<String> out) {
        Matcher m = p.matcher(s);
        int last = 0;
        while (m.find()) {
            if (m.start() == m.end()) continue;
            if (m.start() > last) out.add(s.substring(last, m.start()));
            out.add(s.substring(m.start(), m.end()));
            last = m.end();
        }
        if (last < s.length()) out.add(s.substring(last));
    }

    /** "MergedWithNext" split on a delimiter: each piece starts at a delimiter (except perhaps the first). */
    private static void splitBefore(String s, String delimiter, List<String> out) {
        int last = 0;
        for (int i = s.indexOf(delimiter, 1); i > 0; i = s.indexOf(delimiter, i + delimiter.length())) {
            out.add(s.substring(last, i));
            last = i;
        }
        out.add(s.substring(last));
    }

    private String toByteLevel(String piece) {
        byte[] bytes = piece.getBytes(StandardCharsets.UTF_8);
        char[] chars = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) chars[i] = byteToChar[bytes[i] & 0xFF];
        return new String(chars);
    }

    /** BPE over one word: merge the lowest-ranked adjacent pair, leftmost first, until none applies. */
    private int[] bpe(String word) {
        if (ignoreMerges) {
            int whole = vocab.getIfAbsent(word, -1);
            if (whole >= 0) return new int[]{whole};
        }
        int[] sym = initialSymbols(word);
        int count = sym.length;
        if (count < 2) return sym;
        int[] prev = new int[count], next = new int[count]; // [symbols] linked list, -1 at the ends
        boolean[] gone = new boolean[count];
        for (int i = 0; i < count; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < count ? i + 1 : -1;
        }
        // Queue entries: rank << 32 | position, smallest first; an entry is stale if its pair has changed since.
        PriorityQueue<Long> queue = new PriorityQueue<>();
        for (int i = 0; i + 1 < count; i++) {
            long m = merges.getIfAbsent(pairKey(sym[i], sym[i + 1]), -1);
            if (m >= 0) queue.add((m & 0xFFFFFFFF00000000L) | i);
        }
        while (!queue.isEmpty()) {
            long top = queue.poll();
            int pos = (int) top, rank = (int) (top >>> 32);
            if (gone[pos] || next[pos] < 0) continue;
            int right = next[pos];
            long m = merges.getIfAbsent(pairKey(sym[pos], sym[right]), -1);
            if (m < 0 || (int) (m >>> 32) != rank) continue;
            sym[pos] = (int) m;
            gone[right] = true;
            next[pos] = next[right];
            if (next[right] >= 0) prev[next[right]] = pos;
            if (prev[pos] >= 0) {
                long ml = merges.getIfAbsent(pairKey(sym[prev[pos]], sym[pos]), -1);
                if (ml >= 0) queue.add((ml & 0xFFFFFFFF00000000L) | prev[pos]);
            }
            if (next[pos] >= 0) {
                long mr = merges.getIfAbsent(pairKey(sym[pos], sym[next[pos]]), -1);
                if (mr >= 0) queue.add((mr & 0xFFFFFFFF00000000L) | pos);
            }
        }
        MutableIntList ids = new IntArrayList();
        for (int i = 0; i >= 0; i = next[i]) ids.add(sym[i]);
        return ids.toArray();
    }

    /**
     * One symbol per character; a character outside the vocabulary becomes its byte tokens (byte fallback) or
     * the unknown token (consecutive ones fused into one when {@code fuse_unk}), or is dropped when the model has
     * neither, as {@code tokenizers} does.
     */
    private int[] initialSymbols(String word) {
        MutableIntList sym = new IntArrayList(word.length());
        int pendingUnk = 0; // unknown characters not yet emitted (fused or not)
        for (int i = 0; i < word.length(); ) {
            int cp = word.codePointAt(i);
            int len = Character.charCount(cp);
            String ch = word.substring(i, i + len);
            i += len;
            int id = vocab.getIfAbsent(ch, -1);
            if (id >= 0) {
                if (pendingUnk > 0) sym.add(unkId);
                pendingUnk = 0;
                sym.add(id);
            } else if (byteFallbackIds != null) {
                for (byte b : ch.getBytes(StandardCharsets.UTF_8)) sym.add(byteFallbackIds[b & 0xFF]);
            } else if (unkId >= 0) {
                if (pendingUnk > 0 && !fuseUnk) sym.add(unkId);
                pendingUnk++;
            }
        }
        if (pendingUnk > 0) sym.add(unkId);
        return sym.toArray();
    }

    @Override
    public StreamDecoder streamDecoder() {
        return new StreamDecoder() {
            private final Utf8Bytes pending = new Utf8Bytes();
            private boolean firstToken = true;
            private int stripLeft = stripLeadingSpaces;

            @Override
            public String accept(int id) {
                checkId(id);
                StringBuilder out = new StringBuilder();
                if (special[id]) return "";
                if (tokenByte[id] >= 0) {
                    pending.accept(tokenByte[id], out);
                } else {
                    String text = tokens[id];
                    for (UnaryOperator<String> d : tokenDecoders) text = d.apply(text);
                    if (firstToken && stripFirstTokenSpace && text.startsWith(" ")) text = text.substring(1);
                    for (byte b : surfaceBytes(text)) pending.accept(b & 0xFF, out);
                }
                firstToken = false;
                return strip(out);
            }

            @Override
            public String flush() {
                StringBuilder out = new StringBuilder();
                pending.flush(out);
                return strip(out);
            }

            /** Removes the leading spaces the decoder strips from the start of the text. */
            private String strip(StringBuilder out) {
                while (stripLeft > 0 && !out.isEmpty() && out.charAt(0) == ' ') {
                    out.deleteCharAt(0);
                    stripLeft--;
                }
                if (!out.isEmpty()) stripLeft = 0;
                return out.toString();
            }
        };
    }

    /** The bytes of a token's text: byte-level tokens through GPT-2's map (if every character is in it), else UTF-8. */
    private byte[] surfaceBytes(String text) {
        if (byteLevel) {
            byte[] out = new byte[text.length()];
            for (int i = 0; i < text.length(); i++) {
                char c = text.charAt(i);
                int b = c < charToByte.length ? charToByte[c] : -1;
                if (b < 0) return text.getBytes(StandardCharsets.UTF_8);
                out[i] = (byte) b;
            }
            return out;
        }
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private void checkId(int id) {
        if (id < 0 || id >= tokens.length || tokens[id] == null) {
            throw new IllegalArgumentException("token id " + id + " is outside the vocabulary of " + name);
        }
    }

    @Override
    public String piece(int id) {
        checkId(id);
        return tokens[id];
    }

    @Override
    public int vocabSize() {
        return tokens.length;
    }

    @Override
    public int bos() {
        return bosId;
    }

    @Override
    public int eos() {
        return eosId;
    }

    @Override
    public String toString() {
        return "HfTokenizer[" + name + ", " + vocabSize() + " tokens, " + merges.size() + " merges, "
                + (byteLevel ? "byte-level BPE" : byteFallbackIds != null ? "BPE with byte fallback" : "BPE") + "]";
    }
}
