package dev.peft4j.models.tokenizer;

import java.nio.charset.StandardCharsets;

/**
 * A minimal reader of the protobuf wire format, enough for SentencePiece's {@code ModelProto}: walks the
 * fields of one message, giving each field's number and wire type, and reads varints, fixed32 floats and
 * length-delimited payloads. Malformed input throws {@link IllegalArgumentException}; callers turn it into a
 * user error naming the file.
 */
final class ProtoReader {
    static final int VARINT = 0, FIXED64 = 1, LENGTH_DELIMITED = 2, FIXED32 = 5;

    private final byte[] buf;
    private int pos;
    private final int end;
    private int tag;

    ProtoReader(byte[] buf, int from, int to) {
        this.buf = buf;
        this.pos = from;
        this.end = to;
    }

    /** Advances to the next field; false at the end of the message. */
    boolean next() {
        if (pos >= end) return false;
        long t = readVarint();
        if (t >>> 3 == 0 || t >>> 3 > Integer.MAX_VALUE) throw new IllegalArgumentException("bad field tag " + t + " at byte " + pos);
        tag = (int) t;
        return true;
    }

    int field() { return tag >>> 3; }

    int wireType() { return tag & 7; }

    long readVarint() {
        long result = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos >= end) throw new IllegalArgumentException("truncated varint at byte " + pos);
            byte b = buf[pos++];
            result |= (long) (b & 0x7F) << shift;
            if (b >= 0) return result;
        }
        throw new IllegalArgumentException("varint longer than 10 bytes at byte " + pos);
    }

    /** An int32/enum/bool field: the low 32 bits of the varint (negative int32s are 10-byte varints). */
    int readInt() {
        expect(VARINT);
        return (int) readVarint();
    }

    boolean readBool() {
        return readInt() != 0;
    }

    float readFloat() {
        expect(FIXED32);
        if (end - pos < 4) throw new IllegalArgumentException("truncated float at byte " + pos);
        int bits = (buf[pos] & 0xFF) | (buf[pos + 1] & 0xFF) << 8 | (buf[pos + 2] & 0xFF) << 16 | (buf[pos + 3] & 0xFF) << 24;
        pos += 4;
        return Float.intBitsToFloat(bits);
    }

    /** A nested message: a reader over its bytes. */
    ProtoReader readMessage() {
        int len = readLength();
        ProtoReader nested = new ProtoReader(buf, pos, pos + len);
        pos += len;
        return nested;
    }

    String readString() {
        int len = readLength();
        String s = new String(buf, pos, len, StandardCharsets.UTF_8);
        pos += len;
        return s;
    }

    byte[] readBytes() {
        int len = readLength();
        byte[] b = java.util.Arrays.copyOfRange(buf, pos, pos + len);
        pos += len;
        return b;
    }

    /** Skips a field this reader does not care about. */
    void skip() {
        switch (wireType()) {
            case VARINT -> readVarint();
            case FIXED64 -> advance(8);
            case LENGTH_DELIMITED -> advance(readLength());
            case FIXED32 -> advance(4);
            default -> throw new IllegalArgumentException("unsupported wire type " + wireType() + " at byte " + pos);
        }
    }

    private int readLength() {
        expect(LENGTH_DELIMITED);
        long len = readVarint();
        if (len < 0 || len > end - pos) throw new IllegalArgumentException("length " + len + " runs past the end at byte " + pos);
        return (int) len;
    }

    private void advance(int n) {
        if (n > end - pos) throw new IllegalArgumentException("field runs past the end at byte " + pos);
        pos += n;
    }

    private void expect(int wireType) {
        if (wireType() != wireType) {
            throw new IllegalArgumentException("field " + field() + " has wire type " + wireType() + ", expected " + wireType);
        }
    }
}
