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
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * A Hugging Face {@code tokenizer.json} with a byte-level BPE model, as LLaMA 3 (and GPT-2) use: added tokens
 * are cut out of the text first (leftmost, longest first), the rest is split by the pre-tokenizer's regex, each
 * piece's UTF-8 bytes are mapped to printable characters (GPT-2's byte map) and merged by merge rank (lowest
 * first, leftmost on ties), the way the {@code tokenizers} library's BPE does; with {@code ignore_merges} a
 * piece that is itself in the vocabulary is one token. Decoding maps the characters back to bytes.
 *
 * <p>Thread-safe: read-only after construction except for a concurrent cache of encoded words.
 */
public final class HfTokenizer implements Tokenizer {
    /** GPT-2's ByteLevel pre-tokenizer regex, used when a ByteLevel pre-tokenizer has {@code use_regex}. */
    private static final String GPT2_SPLIT = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    private static final int CACHE_LIMIT = 50_000;

    private final String name;
    private final String[] tokens;                    // [vocab] token text by id (null for gaps)
    private final boolean[] special;                  // [vocab] added tokens marked special (dropped by decode)
    private final ObjectIntHashMap<String> vocab;     // BPE vocabulary, token -> id
    private final LongLongHashMap merges;             // (left id << 32 | right id) -> (rank << 32 | merged id)
    private final String[] addedTokens;               // longest first
    private final ObjectIntHashMap<String> addedIds;
    private final java.util.BitSet addedFirstChars;   // first chars of the added tokens, to skip most positions fast
    private final List<Step> steps;                   // the pre-tokenizer, in order
    private final boolean ignoreMerges;
    private final char[] byteToChar = new char[256];  // GPT-2 byte map
    private final int[] charToByte = new int[324];    // its inverse, -1 where undefined
    private final int bosId, eosId;
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    /** Loads a {@code tokenizer.json}. */
    public static HfTokenizer load(Path file) {
        JsonNode root;
        try (InputStream in = Files.newInputStream(file)) {
            root = new ObjectMapper().readTree(in);
        } catch (IOException e) {
            throw new UserException(file + ": cannot read the tokenizer.json (" + e.getMessage() + ")", e);
        }
        if (root == null || !root.isObject()) throw new UserException(file + ": not a tokenizer.json (no JSON object)");
        return new HfTokenizer(root, file.toString());
    }

    private HfTokenizer(JsonNode root, String name) {
        this.name = name;
        JsonNode model = root.path("model");
        if (!"BPE".equals(model.path("type").asText(null)) && !(model.has("merges") && !model.has("type"))) {
            throw new UserException(name + ": model type " + model.path("type") + " is not supported (only byte-level BPE)");
        }
        if (model.path("byte_fallback").asBoolean(false)) {
            throw new UserException(name + ": BPE with byte_fallback (the Llama 2 style tokenizer.json) is not supported; use its tokenizer.model");
        }
        if (!root.path("normalizer").isNull() && !root.path("normalizer").isMissingNode()) {
            throw new UserException(name + ": normalizer " + root.path("normalizer").path("type").asText() + " is not supported (byte-level BPE has none)");
        }
        ignoreMerges = model.path("ignore_merges").asBoolean(false);
        initByteMap();

        JsonNode vocabNode = model.path("vocab");
        if (!vocabNode.isObject() || vocabNode.isEmpty()) throw new UserException(name + ": model.vocab is missing or empty");
        vocab = new ObjectIntHashMap<>(vocabNode.size() * 2);
        int maxId = -1;
        for (var it = vocabNode.fields(); it.hasNext(); ) {
            var e = it.next();
            int id = e.getValue().asInt(-1);
            if (id < 0) throw new UserException(name + ": vocab entry " + e.getKey() + " has id " + e.getValue());
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
        addedFirstChars = new java.util.BitSet();
        for (String a : addedTokens) addedFirstChars.set(a.charAt(0));

        merges = new LongLongHashMap();
        JsonNode mergeNode = model.path("merges");
        int rank = 0;
        for (JsonNode m : mergeNode) {
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
            long key = (long) ia << 32 | (ib & 0xFFFFFFFFL);
            merges.put(key, (long) rank << 32 | merged); // a repeated merge keeps its last rank, as tokenizers does
            rank++;
        }

        List<Step> pipeline = new ArrayList<>();
        readPreTokenizer(root.path("pre_tokenizer"), pipeline);
        if (pipeline.stream().noneMatch(Step::byteLevel)) {
            throw new UserException(name + ": pre_tokenizer has no ByteLevel step; only byte-level BPE is supported");
        }
        steps = List.copyOf(pipeline);

        int[] bosEos = specialIds(root.path("post_processor"));
        bosId = bosEos[0];
        eosId = bosEos[1];
    }

    /**
     * One pre-tokenizer step: a Split (an "Isolated" regex split) or a ByteLevel (an optional prefix space and
     * GPT-2's regex split; its byte mapping happens in {@link #toByteLevel}).
     */
    private record Step(Pattern pattern, boolean prefixSpace, boolean byteLevel) { }

    private void readPreTokenizer(JsonNode p, List<Step> steps) {
        String type = p.path("type").asText("");
        switch (type) {
            case "Sequence" -> {
                for (JsonNode step : p.path("pretokenizers")) readPreTokenizer(step, steps);
            }
            case "Split" -> {
                String behavior = p.path("behavior").asText("");
                if (!behavior.equals("Isolated") || p.path("invert").asBoolean(false)) {
                    throw new UserException(name + ": Split pre-tokenizer with behavior " + behavior + (p.path("invert").asBoolean(false) ? ", inverted," : "") + " is not supported (only Isolated)");
                }
                JsonNode pattern = p.path("pattern");
                String regex = pattern.has("Regex") ? pattern.get("Regex").asText() : Pattern.quote(pattern.path("String").asText());
                steps.add(new Step(compile(regex), false, false));
            }
            case "ByteLevel" -> steps.add(new Step(p.path("use_regex").asBoolean(true) ? compile(GPT2_SPLIT) : null,
                    p.path("add_prefix_space").asBoolean(false), true));
            default -> throw new UserException(name + ": pre_tokenizer " + (type.isEmpty() ? p.toString() : type) + " is not supported");
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
            throw new UserException(name + ": pre-tokenizer regex " + regex + " does not compile: " + e.getDescription());
        }
    }

    /** BOS and EOS: the special tokens around the sequence in a TemplateProcessing post-processor, else by name. */
    private int[] specialIds(JsonNode post) {
        int bos = -1, eos = -1;
        if ("TemplateProcessing".equals(post.path("type").asText())) {
            JsonNode single = post.path("single");
            boolean seenSequence = false;
            for (JsonNode item : single) {
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
            encodeSegment(text.substring(start, pos), out);
            out.add(addedIds.get(hit));
            pos += hit.length();
            start = pos;
        }
        encodeSegment(text.substring(start), out);
        if (eos && eosId >= 0) out.add(eosId);
        return out.toArray();
    }

    private String addedAt(String text, int pos) {
        for (String a : addedTokens) if (text.startsWith(a, pos)) return a;
        return null;
    }

    /** Pre-tokenizes one stretch of text between added tokens and BPE-encodes each piece. */
    private void encodeSegment(String segment, MutableIntList out) {
        if (segment.isEmpty()) return;
        List<String> pieces = List.of(segment);
        for (Step step : steps) {
            List<String> next = new ArrayList<>();
            for (String piece : pieces) {
                if (step.prefixSpace() && !piece.startsWith(" ")) piece = " " + piece;
                if (step.pattern() == null) next.add(piece);
                else split(step.pattern(), piece, next);
            }
            pieces = next;
        }
        for (String piece : pieces) {
            int[] ids = cache.get(piece);
            if (ids == null) {
                ids = bpe(toByteLevel(piece));
                if (cache.size() < CACHE_LIMIT) cache.put(piece, ids);
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

    private String toByteLevel(String piece) {
        byte[] bytes = piece.getBytes(StandardCharsets.UTF_8);
        char[] chars = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) chars[i] = byteToChar[bytes[i] & 0xFF];
        return new String(chars);
    }

    /** BPE over one byte-level word: merge the lowest-ranked adjacent pair, leftmost first, until none applies. */
    private int[] bpe(String word) {
        if (ignoreMerges) {
            int whole = vocab.getIfAbsent(word, -1);
            if (whole >= 0) return new int[]{whole};
        }
        int n = word.length();
        int[] sym = new int[n], prev = new int[n], next = new int[n]; // [symbols] id and linked list
        boolean[] gone = new boolean[n];
        int count = 0;
        for (int i = 0; i < n; i++) {
            int id = vocab.getIfAbsent(String.valueOf(word.charAt(i)), -1);
            if (id < 0) continue; // not in the vocabulary and no unk token: dropped, as tokenizers does
            sym[count] = id;
            prev[count] = count - 1;
            next[count] = count + 1;
            count++;
        }
        if (count == 0) return new int[0];
        next[count - 1] = -1;
        // Queue entries: rank << 32 | position, smallest first; the merged id is looked up again when popped.
        PriorityQueue<Long> queue = new PriorityQueue<>();
        for (int i = 0; i + 1 < count; i++) {
            long m = merges.getIfAbsent((long) sym[i] << 32 | (sym[i + 1] & 0xFFFFFFFFL), -1);
            if (m >= 0) queue.add((m & 0xFFFFFFFF00000000L) | i);
        }
        while (!queue.isEmpty()) {
            long top = queue.poll();
            int pos = (int) top, rank = (int) (top >>> 32);
            if (gone[pos] || next[pos] < 0) continue;
            int right = next[pos];
            long m = merges.getIfAbsent((long) sym[pos] << 32 | (sym[right] & 0xFFFFFFFFL), -1);
            if (m < 0 || (int) (m >>> 32) != rank) continue; // stale entry
            sym[pos] = (int) m;
            gone[right] = true;
            next[pos] = next[right];
            if (next[right] >= 0) prev[next[right]] = pos;
            if (prev[pos] >= 0) {
                long ml = merges.getIfAbsent((long) sym[prev[pos]] << 32 | (sym[pos] & 0xFFFFFFFFL), -1);
                if (ml >= 0) queue.add((ml & 0xFFFFFFFF00000000L) | prev[pos]);
            }
            if (next[pos] >= 0) {
                long mr = merges.getIfAbsent((long) sym[pos] << 32 | (sym[next[pos]] & 0xFFFFFFFFL), -1);
                if (mr >= 0) queue.add((mr & 0xFFFFFFFF00000000L) | pos);
            }
        }
        MutableIntList ids = new IntArrayList();
        for (int i = 0; i >= 0; i = next[i]) ids.add(sym[i]);
        return ids.toArray();
    }

    @Override
    public String decode(int[] ids) {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        for (int id : ids) bytes.writeBytes(bytesOf(id));
        return bytes.toString(StandardCharsets.UTF_8);
    }

    /** The bytes a token stands for: special tokens none, byte-level tokens their bytes, others their UTF-8. */
    private byte[] bytesOf(int id) {
        if (id < 0 || id >= tokens.length || tokens[id] == null) {
            throw new IllegalArgumentException("token id " + id + " is outside the vocabulary of " + name);
        }
        if (special[id]) return new byte[0];
        String t = tokens[id];
        byte[] out = new byte[t.length()];
        for (int i = 0; i < t.length(); i++) {
            char c = t.charAt(i);
            int b = c < charToByte.length ? charToByte[c] : -1;
            if (b < 0) return t.getBytes(StandardCharsets.UTF_8);
            out[i] = (byte) b;
        }
        return out;
    }

    @Override
    public StreamDecoder streamDecoder() {
        return new StreamDecoder() {
            private final Utf8Bytes pending = new Utf8Bytes();

            @Override
            public String accept(int id) {
                StringBuilder out = new StringBuilder();
                for (byte b : bytesOf(id)) pending.accept(b & 0xFF, out);
                return out.toString();
            }

            @Override
            public String flush() {
                StringBuilder out = new StringBuilder();
                pending.flush(out);
                return out.toString();
            }
        };
    }

    @Override
    public String piece(int id) {
        if (id < 0 || id >= tokens.length || tokens[id] == null) {
            throw new IllegalArgumentException("token id " + id + " is outside the vocabulary of " + name);
        }
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
        return "HfTokenizer[" + name + ", " + vocabSize() + " tokens, " + merges.size() + " merges, byte-level BPE]";
    }
}
