package dev.peft4j.models.tokenizer;

import dev.peft4j.api.UserException;

import java.util.ArrayList;
import java.util.List;

/**
 * The parts of a SentencePiece {@code ModelProto} that encoding and decoding need, read from its protobuf
 * bytes by hand. Field numbers and defaults are those of {@code sentencepiece_model.proto}.
 *
 * @param pieces     the vocabulary, by id
 * @param scores     each piece's score (BPE: merge priority; unigram: log probability)
 * @param types      each piece's type, one of the {@code NORMAL..BYTE} constants
 * @param modelType  {@link #UNIGRAM}, {@link #BPE}, {@link #WORD} or {@link #CHAR}
 * @param charsmap   the normalizer's precompiled character map (empty for identity normalization)
 */
record SentencePieceModel(String[] pieces, float[] scores, byte[] types, int modelType, boolean byteFallback,
                          boolean treatWhitespaceAsSuffix, String unkPiece, String bosPiece, String eosPiece,
                          String unkSurface, String normalizerName, byte[] charsmap, boolean addDummyPrefix,
                          boolean removeExtraWhitespaces, boolean escapeWhitespaces) {

    static final byte NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6;
    static final int UNIGRAM = 1, BPE = 2, WORD = 3, CHAR = 4;

    /** Parses a serialized {@code ModelProto}; {@code name} (the file) goes into error messages. */
    static SentencePieceModel parse(byte[] proto, String name) {
        try {
            return parse(new ProtoReader(proto, 0, proto.length), name);
        } catch (IllegalArgumentException e) {
            throw new UserException(name + ": not a valid SentencePiece model (" + e.getMessage() + ")");
        }
    }

    private static SentencePieceModel parse(ProtoReader model, String name) {
        List<String> pieces = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        List<Byte> types = new ArrayList<>();
        // TrainerSpec defaults.
        int modelType = UNIGRAM;
        boolean byteFallback = false, suffix = false;
        String unkPiece = "<unk>", bosPiece = "<s>", eosPiece = "</s>", unkSurface = " \u2047 ";
        // NormalizerSpec defaults.
        String normName = "";
        byte[] charsmap = new byte[0];
        boolean dummyPrefix = true, removeExtra = true, escape = true;
        boolean sawTrainer = false, sawNormalizer = false;
        while (model.next()) {
            switch (model.field()) {
                case 1 -> {
                    ProtoReader p = model.readMessage();
                    String piece = "";
                    float score = 0f;
                    byte type = NORMAL;
                    while (p.next()) {
                        switch (p.field()) {
                            case 1 -> piece = p.readString();
                            case 2 -> score = p.readFloat();
                            case 3 -> {
                                int t = p.readInt();
                                if (t < NORMAL || t > BYTE) throw new IllegalArgumentException("piece " + pieces.size() + " has unknown type " + t);
                                type = (byte) t;
                            }
                            default -> p.skip();
                        }
                    }
                    pieces.add(piece);
                    scores.add(score);
                    types.add(type);
                }
                case 2 -> {
                    sawTrainer = true;
                    ProtoReader t = model.readMessage();
                    while (t.next()) {
                        switch (t.field()) {
                            case 3 -> modelType = t.readInt();
                            case 24 -> suffix = t.readBool();
                            case 35 -> byteFallback = t.readBool();
                            case 44 -> unkSurface = t.readString();
                            case 45 -> unkPiece = t.readString();
                            case 46 -> bosPiece = t.readString();
                            case 47 -> eosPiece = t.readString();
                            default -> t.skip();
                        }
                    }
                }
                case 3 -> {
                    sawNormalizer = true;
                    ProtoReader n = model.readMessage();
                    while (n.next()) {
                        switch (n.field()) {
                            case 1 -> normName = n.readString();
                            case 2 -> charsmap = n.readBytes();
                            case 3 -> dummyPrefix = n.readBool();
                            case 4 -> removeExtra = n.readBool();
                            case 5 -> escape = n.readBool();
                            default -> n.skip();
                        }
                    }
                }
                default -> model.skip();
            }
        }
        if (pieces.isEmpty() || !sawTrainer || !sawNormalizer) {
            throw new UserException(name + ": not a SentencePiece model (no pieces, trainer_spec or normalizer_spec)");
        }
        if (modelType < UNIGRAM || modelType > CHAR) throw new UserException(name + ": unknown model_type " + modelType);
        int n = pieces.size();
        float[] s = new float[n];
        byte[] ty = new byte[n];
        for (int i = 0; i < n; i++) {
            s[i] = scores.get(i);
            ty[i] = types.get(i);
        }
        return new SentencePieceModel(pieces.toArray(String[]::new), s, ty, modelType, byteFallback, suffix,
                unkPiece, bosPiece, eosPiece, unkSurface, normName, charsmap, dummyPrefix, removeExtra, escape);
    }
}
