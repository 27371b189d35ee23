package dev.peft4j.models.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.StreamSupport;

/** Test fixtures: files under src/test/resources/tokenizer/ and the shared Llama 2 tokenizer. */
final class Fixtures {
    private Fixtures() { }

    /** One golden case: a text and the ids the reference encoder gives for it (and its decode of them). */
    record Case(String text, int[] ids, String decoded) { }

    static Path resource(String name) {
        try {
            var url = Fixtures.class.getResource("/tokenizer/" + name);
            if (url == null) throw new IllegalStateException("missing test resource tokenizer/" + name);
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static JsonNode json(String name) {
        try (InputStream in = Files.newInputStream(resource(name))) {
            return new ObjectMapper().readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static List<Case> cases(JsonNode doc, String field) {
        List<Case> out = new ArrayList<>();
        for (JsonNode c : doc.get(field)) {
            out.add(new Case(c.path("text").asText(), ints(c.get("ids")), c.has("decoded") ? c.get("decoded").asText() : null));
        }
        return out;
    }

    static int[] ints(JsonNode array) {
        return StreamSupport.stream(array.spliterator(), false).mapToInt(JsonNode::asInt).toArray();
    }

    /** A file of the shared Llama 2 tokenizer; skips the test when the shared folder is absent. */
    static Path llama2(String file) {
        String shared = System.getProperty("peft4j.shared", "/work/shared");
        Path p = Path.of(shared, "data", "llama2-tokenizer", file);
        Assumptions.assumeTrue(Files.isRegularFile(p), "the Llama 2 tokenizer is not at " + p + " (set -Dpeft4j.shared to the folder holding data/llama2-tokenizer/)");
        return p;
    }

    /** Java's escape of a string for messages: control and non-ASCII characters as \\uXXXX. */
    static String show(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c >= 0x20 && c < 0x7F) sb.append(c);
            else sb.append(String.format("\\u%04x", (int) c));
        }
        return sb.append('"').toString();
    }
}
