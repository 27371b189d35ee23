package dev.peft4j.models.tokenizer;

import dev.peft4j.api.UserException;
import org.eclipse.collections.api.list.primitive.MutableIntList;
import org.eclipse.collections.impl.list.mutable.primitive.IntArrayList;
import org.eclipse.collections.impl.map.mutable.primitive.ObjectIntHashMap;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * A SentencePiece model ({@code .model}), encoding and decoding exactly as the reference
 * {@code SentencePieceProcessor} does: normalization (identity or a precompiled character map), then BPE
 * (LLaMA 1/2: merges by the score of the merged piece, ties to the leftmost pair) or unigram (Viterbi),
 * then byte fallback for pieces outside the vocabulary.
 *
 * <p>Thread-safe: all state is read-only after construction.
 */
public class SentencePieceTokenizer implements Tokenizer {
    private static final float UNK_PENALTY = 10f;
    private static final float USER_DEFINED_PENALTY = 0.1f;

    private final String name;
    private final SentencePieceModel model;
    private final SentencePieceNormalizer normalizer;
    private final ObjectIntHashMap<String> pieceIds;    // NORMAL, USER_DEFINED, UNUSED pieces -> id
    private final ObjectIntHashMap<String> reservedIds; // CONTROL, UNKNOWN, BYTE pieces -> id
    private final Map<Character, String[]> userDefinedByFirstChar; // longest first
    private final int[] byteIds = new int[256];          // byte value -> id of its <0xXX> piece, -1 if none
    private final int unkId, bosId, eosId;
    private final int maxPieceLength;                    // in chars, for unigram's lattice
    private final float minScore, maxScore;              // over NORMAL pieces, for unigram

    /** Loads a SentencePiece {@code .model} file. */
    public static SentencePieceTokenizer load(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UserException(file + ": cannot read the tokenizer (" + e.getMessage() + ")", e);
        }
        return new SentencePieceTokenizer(SentencePieceModel.parse(bytes, file.toString()), file.toString());
    }

    SentencePieceTokenizer(SentencePieceModel model, String name) {
        this.name = name;
        this.model = model;
        if (model.modelType() != SentencePieceModel.BPE && model.modelType() != SentencePieceModel.UNIGRAM) {
            throw new UserException(name + ": SentencePiece model_type " + (model.modelType() == SentencePieceModel.WORD ? "WORD" : "CHAR")
                    + " is not supported (only BPE and UNIGRAM)");
        }
        if (model.treatWhitespaceAsSuffix()) {
            throw new UserException(name + ": treat_whitespace_as_suffix is not supported");
        }
        String[] pieces = model.pieces();
        pieceIds = new ObjectIntHashMap<>(pieces.length * 2);
        reservedIds = new ObjectIntHashMap<>();
        java.util.Arrays.fill(byteIds, -1);
        List<String> userDefined = new ArrayList<>();
        int unk = -1, maxLen = 1;
        float min = Float.MAX_VALUE, max = Float.MIN_VALUE;
        for (int id = 0; id < pieces.length; id++) {
            byte type = model.types()[id];
            String piece = pieces[id];
            boolean normal = type == SentencePieceModel.NORMAL || type == SentencePieceModel.USER_DEFINED || type == SentencePieceModel.UNUSED;
            ObjectIntHashMap<String> map = normal ? pieceIds : reservedIds;
            if (map.containsKey(piece)) throw new UserException(name + ": piece " + quote(piece) + " appears twice (ids " + map.get(piece) + " and " + id + ")");
            map.put(piece, id);
            maxLen = Math.max(maxLen, piece.length());
            switch (type) {
                case SentencePieceModel.USER_DEFINED -> userDefined.add(piece);
                case SentencePieceModel.UNKNOWN -> {
                    if (unk >= 0) throw new UserException(name + ": more than one UNKNOWN piece (ids " + unk + " and " + id + ")");
                    unk = id;
                }
                case SentencePieceModel.BYTE -> {
                    int b = byteOf(piece);
                    if (b < 0) throw new UserException(name + ": BYTE piece " + id + " is " + quote(piece) + ", not <0xXX>");
                    byteIds[b] = id;
                }
                case SentencePieceModel.NORMAL -> {
                    min = Math.min(min, model.scores()[id]);
                    max = Math.max(max, model.scores()[id]);
                }
                default -> { }
            }
        }
        if (unk < 0) throw new UserException(name + ": the model has no UNKNOWN piece");
        if (model.byteFallback()) {
            for (int b = 0; b < 256; b++) {
                if (byteIds[b] < 0) throw new UserException(name + ": byte_fallback is on but piece <0x" + hex(b) + "> is missing");
            }
        }
        unkId = unk;
        bosId = controlId(model.bosPiece());
        eosId = controlId(model.eosPiece());
        maxPieceLength = maxLen;
        minScore = min;
        maxScore = max;
        userDefined.sort((a, b) -> b.length() - a.length());
        userDefinedByFirstChar = new HashMap<>();
        for (String u : userDefined) {
            if (u.isEmpty()) continue;
            userDefinedByFirstChar.merge(u.charAt(0), new String[]{u}, (a, b) -> {
                String[] c = java.util.Arrays.copyOf(a, a.length + 1);
                c[a.length] = b[0];
                return c;
            });
        }
        try {
            normalizer = new SentencePieceNormalizer(model.charsmap(), userDefined, model.addDummyPrefix(),
                    model.removeExtraWhitespaces(), model.escapeWhitespaces());
        } catch (IllegalArgumentException e) {
            throw new UserException(name + ": " + e.getMessage());
        }
    }

    @Override
    public int[] encode(String text, boolean bos, boolean eos) {
        String normalized = normalizer.normalize(text);
        List<String> pieces = new ArrayList<>();
        MutableIntList ids = new IntArrayList();
        if (model.modelType() == SentencePieceModel.BPE) encodeBpe(normalized, pieces, ids);
        else encodeUnigram(normalized, pieces, ids);

        MutableIntList out = new IntArrayList(ids.size() + 2);
        if (bos && bosId >= 0) out.add(bosId);
        boolean prevUnk = false;
        for (int i = 0; i < ids.size(); i++) {
            int id = ids.get(i);
            boolean isUnk = id == unkId;
            if (isUnk && model.byteFallback()) {
                for (byte b : pieces.get(i).getBytes(StandardCharsets.UTF_8)) out.add(byteIds[b & 0xFF]);
            } else if (!(isUnk && prevUnk)) {
                out.add(id); // a run of unknown pieces becomes one unknown id
            }
            prevUnk = isUnk;
        }
        if (eos && eosId >= 0) out.add(eosId);
        return out.toArray();
    }

    /**
     * BPE as SentencePiece runs it: split into characters (user-defined pieces whole and frozen), then
     * repeatedly merge the adjacent pair whose concatenation is the highest-scoring piece, leftmost first
     * on ties, with a priority queue and lazy invalidation of stale pairs.
     */
    private void encodeBpe(String text, List<String> piecesOut, MutableIntList idsOut) {
        BpeRun run = new BpeRun(text);
        for (int i = 1; i < run.count; i++) run.addPair(i - 1, i);
        while (!run.agenda.isEmpty()) run.mergeTop();
        for (int i = run.count == 0 ? -1 : 0; i >= 0; i = run.next[i]) {
            resegment(text.substring(run.begin[i], run.end[i]), run.reverseMerges, piecesOut, idsOut);
        }
    }

    /** A candidate merge of symbols {@code left} and {@code right}, {@code size} chars long when made. */
    private record Pair(float score, int left, int right, int size) { }

    /** One BPE run: the symbols as char ranges of the text in a linked list, and the agenda of candidate merges. */
    private final class BpeRun {
        final String text;
        final int[] begin, end;   // [symbols] char range of each symbol; empty once merged into its left neighbour
        final int[] prev, next;   // [symbols] linked list, -1 at the ends
        final boolean[] frozen;   // [symbols] user-defined pieces never merge
        final int count;
        final PriorityQueue<Pair> agenda = new PriorityQueue<>((a, b) ->
                a.score() != b.score() ? Float.compare(b.score(), a.score()) : Integer.compare(a.left(), b.left()));
        final Map<String, String[]> reverseMerges = new HashMap<>(); // UNUSED piece -> the two pieces merged into it

        BpeRun(String text) {
            this.text = text;
            int n = text.length();
            begin = new int[n];
            end = new int[n];
            prev = new int[n];
            next = new int[n];
            frozen = new boolean[n];
            int k = 0;
            for (int pos = 0; pos < n; k++) {
                int len = userDefinedAt(text, pos);
                frozen[k] = len > 0;
                if (len == 0) len = Character.charCount(text.codePointAt(pos));
                begin[k] = pos;
                end[k] = pos + len;
                prev[k] = k - 1;
                pos += len;
                next[k] = pos < n ? k + 1 : -1;
            }
            count = k;
        }

        void addPair(int l, int r) {
            if (l < 0 || r < 0 || frozen[l] || frozen[r]) return;
            String merged = text.substring(begin[l], end[r]);
            int id = pieceIds.getIfAbsent(merged, -1);
            if (id < 0) return;
            agenda.add(new Pair(model.scores()[id], l, r, merged.length()));
            if (model.types()[id] == SentencePieceModel.UNUSED) {
                reverseMerges.put(merged, new String[]{text.substring(begin[l], end[l]), text.substring(begin[r], end[r])});
            }
        }

        void mergeTop() {
            Pair top = agenda.poll();
            int l = top.left(), r = top.right();
            int lSize = end[l] - begin[l], rSize = end[r] - begin[r];
            if (lSize == 0 || rSize == 0 || lSize + rSize != top.size()) return; // stale: a side has changed since
            end[l] = end[r];
            next[l] = next[r];
            if (next[r] >= 0) prev[next[r]] = l;
            end[r] = begin[r];
            addPair(prev[l], l);
            addPair(l, next[l]);
        }
    }

    /** Splits a piece of type UNUSED back into the pieces it was merged from. */
    private void resegment(String piece, Map<String, String[]> reverseMerges, List<String> piecesOut, MutableIntList idsOut) {
        int id = pieceToId(piece);
        String[] parts = model.types()[id] == SentencePieceModel.UNUSED ? reverseMerges.get(piece) : null;
        if (parts == null) {
            piecesOut.add(piece);
            idsOut.add(id);
        } else {
            resegment(parts[0], reverseMerges, piecesOut, idsOut);
            resegment(parts[1], reverseMerges, piecesOut, idsOut);
        }
    }

    /**
     * Unigram: the segmentation with the highest total score (Viterbi over every vocabulary piece that starts
     * at each character); a character no piece covers becomes an unknown piece scored below every other.
     */
    private void encodeUnigram(String text, List<String> piecesOut, MutableIntList idsOut) {
        int size = text.length();
        float[] bestScore = new float[size + 1]; // [position] best path score ending here
        int[] startsAt = new int[size + 1];      // [position] start of the last piece on that path, -1 if none
        int[] lastId = new int[size + 1];        // [position] id of that piece
        java.util.Arrays.fill(startsAt, -1);
        float unkScore = minScore - UNK_PENALTY;
        for (int start = 0; start < size; ) {
            float tillHere = bestScore[start];
            int charLen = Character.charCount(text.codePointAt(start));
            boolean hasSingle = false;
            for (int end = start + 1; end <= Math.min(size, start + maxPieceLength); end++) {
                int id = pieceIds.getIfAbsent(text.substring(start, end), -1);
                if (id < 0 || model.types()[id] == SentencePieceModel.UNUSED) continue;
                double score = model.types()[id] == SentencePieceModel.USER_DEFINED
                        ? (double) (utf8Length(text, start, end) * maxScore) - USER_DEFINED_PENALTY
                        : model.scores()[id];
                double candidate = score + tillHere;
                if (startsAt[end] == -1 || candidate > bestScore[end]) {
                    bestScore[end] = (float) candidate;
                    startsAt[end] = start;
                    lastId[end] = id;
                }
                if (end - start == charLen) hasSingle = true;
            }
            if (!hasSingle) {
                int end = start + charLen;
                float candidate = unkScore + tillHere;
                if (startsAt[end] == -1 || candidate > bestScore[end]) {
                    bestScore[end] = candidate;
                    startsAt[end] = start;
                    lastId[end] = unkId;
                }
            }
            start += charLen;
        }
        MutableIntList ends = new IntArrayList();
        for (int end = size; end > 0; end = startsAt[end]) ends.add(end);
        for (int k = ends.size() - 1; k >= 0; k--) {
            int end = ends.get(k);
            piecesOut.add(text.substring(startsAt[end], end));
            idsOut.add(lastId[end]);
        }
    }

    private static int utf8Length(String s, int from, int to) {
        int len = 0;
        for (int i = from; i < to; i++) {
            char c = s.charAt(i);
            len += c < 0x80 ? 1 : c < 0x800 ? 2 : Character.isSurrogate(c) ? 2 : 3;
        }
        return len;
    }

    /** Length of the user-defined piece starting at {@code pos} (the longest), or 0. */
    private int userDefinedAt(String text, int pos) {
        String[] candidates = userDefinedByFirstChar.get(text.charAt(pos));
        if (candidates != null) {
            for (String u : candidates) if (text.startsWith(u, pos)) return u.length();
        }
        return 0;
    }

    private int pieceToId(String piece) {
        int id = reservedIds.getIfAbsent(piece, -1);
        if (id >= 0) return id;
        return pieceIds.getIfAbsent(piece, unkId);
    }

    /**
     * Decodes as SentencePiece does: control pieces vanish, the unknown piece shows as its surface
     * ({@code " ⁇ "} by default), runs of byte pieces are assembled into UTF-8, ▁ becomes a space, and the
     * first piece loses the ▁ the dummy prefix put there.
     */
    @Override
    public StreamDecoder streamDecoder() {
        return new StreamDecoder() {
            private final Utf8Bytes bytes = new Utf8Bytes();
            private boolean textEmpty = true, isBosWs = true, bosWsSeen;

            @Override
            public String accept(int id) {
                checkId(id);
                StringBuilder out = new StringBuilder();
                if (model.types()[id] == SentencePieceModel.BYTE) {
                    bytes.accept(byteOf(model.pieces()[id]), out);
                } else {
                    bytes.flush(out);
                    if (bosWsSeen || !textEmpty || !out.isEmpty()) isBosWs = false;
                    bosWsSeen = false;
                    byte type = model.types()[id];
                    String piece = model.pieces()[id];
                    if (type == SentencePieceModel.CONTROL) {
                        piece = "";
                    } else if (type == SentencePieceModel.UNKNOWN) {
                        piece = model.unkSurface();
                    } else {
                        if (isBosWs && (model.addDummyPrefix() || model.removeExtraWhitespaces())) {
                            bosWsSeen = piece.startsWith(SentencePieceNormalizer.SPACE_SYMBOL) && !model.removeExtraWhitespaces();
                            if (piece.startsWith(SentencePieceNormalizer.SPACE_SYMBOL)) piece = piece.substring(1);
                        }
                        piece = piece.replace(SentencePieceNormalizer.SPACE_SYMBOL, " ");
                    }
                    out.append(piece);
                }
                if (!out.isEmpty()) textEmpty = false;
                return out.toString();
            }

            @Override
            public String flush() {
                StringBuilder out = new StringBuilder();
                bytes.flush(out);
                if (!out.isEmpty()) textEmpty = false;
                return out.toString();
            }
        };
    }

    /** The model this tokenizer runs (pieces, scores, types, normalizer settings). */
    SentencePieceModel model() {
        return model;
    }

    /** The id of the UNKNOWN piece. */
    int unkId() {
        return unkId;
    }

    @Override
    public String piece(int id) {
        checkId(id);
        return model.pieces()[id];
    }

    @Override
    public int vocabSize() {
        return model.pieces().length;
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
        return "SentencePieceTokenizer[" + name + ", " + vocabSize() + " pieces, "
                + (model.modelType() == SentencePieceModel.BPE ? "BPE" : "unigram") + (model.byteFallback() ? ", byte fallback" : "") + "]";
    }

    private void checkId(int id) {
        if (id < 0 || id >= model.pieces().length) throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + model.pieces().length + ")");
    }

    private int controlId(String piece) {
        int id = pieceToId(piece);
        return model.types()[id] == SentencePieceModel.CONTROL ? id : -1;
    }

    /** The byte of a {@code <0xXX>} piece, or -1. */
    static int byteOf(String piece) {
        if (piece.length() != 6 || !piece.startsWith("<0x") || piece.charAt(5) != '>') return -1;
        int hi = Character.digit(piece.charAt(3), 16), lo = Character.digit(piece.charAt(4), 16);
        return hi < 0 || lo < 0 ? -1 : hi << 4 | lo;
    }

    static String hex(int b) {
        return String.format("%02X", b);
    }

    private static String quote(String s) {
        return "\"" + s + "\"";
    }
}
