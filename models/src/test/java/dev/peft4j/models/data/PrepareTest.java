package dev.peft4j.models.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.UserException;
import dev.peft4j.models.tokenizer.ByteTokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The template, the tokens and mask of an example, bad input, the split and truncation. */
class PrepareTest {
    @TempDir
    Path dir;

    private static final ByteTokenizer BYTES = new ByteTokenizer();

    /** Byte-tokenizer ids of {@code s}: 3 + each UTF-8 byte. */
    private static int[] ids(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        int[] out = new int[b.length];
        for (int i = 0; i < b.length; i++) out[i] = 3 + (b[i] & 0xff);
        return out;
    }

    private static int[] concat(int[]... parts) {
        return java.util.Arrays.stream(parts).flatMapToInt(java.util.Arrays::stream).toArray();
    }

    @Test
    void alpacaTemplateIsStanfordsWording() {
        assertEquals("Below is an instruction that describes a task, paired with an input that provides further context. "
                + "Write a response that appropriately completes the request.\n\n### Instruction:\nAdd.\n\n### Input:\n2 and 3\n\n### Response:\n",
                AlpacaTemplate.prompt("Add.", "2 and 3"));
        String noInput = "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
                + "### Instruction:\nSay hi.\n\n### Response:\n";
        assertEquals(noInput, AlpacaTemplate.prompt("Say hi.", ""));
        assertEquals(noInput, AlpacaTemplate.prompt("Say hi.", null));
        assertEquals(noInput, new Example("Say hi.", null, "Hi").prompt());
    }

    @Test
    void tokensAreBosPromptResponseEosWithThePromptMasked() {
        Example ex = new Example("Add.", "2 and 3", "5 é");
        String prompt = ex.prompt();
        int[] expected = concat(new int[] {1}, ids(prompt), ids("5 é"), new int[] {2});
        TokenizedExample t = TokenizedExample.encode(BYTES, ex, true, 1000);
        assertArrayEquals(expected, t.tokens());
        assertEquals(1 + prompt.getBytes(StandardCharsets.UTF_8).length, t.promptLength());
        assertEquals(expected.length, t.fullLength());

        TokenizedExample unmasked = TokenizedExample.encode(BYTES, ex, false, 1000);
        assertArrayEquals(expected, unmasked.tokens());
        assertEquals(0, unmasked.promptLength());

        // In a batch: targets are tokens[1..n-1]; weight 1 exactly on the response bytes and EOS.
        ExampleSet set = new ExampleSet.Builder().add(t).build();
        var batch = ExampleLoader.evaluationBatches(set, 1, 0).getFirst();
        int n = expected.length - 1, p = t.promptLength();
        assertEquals(n, batch.seqLen());
        assertArrayEquals(java.util.Arrays.copyOfRange(expected, 0, n), batch.inputs());
        assertArrayEquals(java.util.Arrays.copyOfRange(expected, 1, n + 1), batch.targets());
        for (int i = 0; i < n; i++) assertEquals(i + 1 >= p ? 1f : 0f, batch.weights()[i], "weight of target " + i);
        assertEquals(ids("5 é").length + 1, batch.weightSum(), 0); // the response bytes and EOS
    }

    @Test
    void truncationCutsAtMaxSeqLengthAndIsCounted() throws IOException {
        Path f = Fixtures.write(dir, "a.json", Fixtures.ALPACA);
        // Full lengths are 152 ("Say hi."), 231 ("Add the numbers." with input) and 160 ("Name a colour."): 158 cuts two.
        int[] lengths = {1 + AlpacaTemplate.prompt("Say hi.", "").length() + 3 + 1,
                1 + AlpacaTemplate.prompt("Add the numbers.", "2 and 3").length() + 1 + 1,
                1 + AlpacaTemplate.prompt("Name a colour.", "").length() + 4 + 1};
        assertArrayEquals(new int[] {152, 231, 160}, lengths);
        PreparedDataset d = Datasets.prepare(f.toString(), null, BYTES, PrepareOptions.defaults().withValSize(0).withMaxSeqLength(158));
        assertEquals(2, d.summary().truncated());
        assertEquals(158, d.summary().longest());
        for (int i = 0; i < d.train().size(); i++) assertTrue(d.train().length(i) <= 158);
        // "Add the numbers." has a prompt longer than 158 tokens: nothing of its response is left to learn
        assertEquals(1, d.summary().withoutTargets());
        assertTrue(d.summary().describe().contains("2 truncated (1 lost their whole response)"), d.summary().describe());
        // the cut colour example keeps BOS, its 154 prompt bytes and "Blu"
        int colour = IntStream.range(0, 3).filter(i -> BYTES.decode(d.train().tokens(i)).endsWith("Blu")).findFirst().orElseThrow();
        assertEquals(155, d.train().promptLength(colour));
    }

    @Test
    void splitIsSeededAndDisjoint() throws IOException {
        StringBuilder json = new StringBuilder("[");
        for (int i = 0; i < 50; i++) json.append(i == 0 ? "" : ",").append("{\"instruction\":\"i").append(i).append("\",\"output\":\"o").append(i).append("\"}");
        Path f = Fixtures.write(dir, "many.json.gz", json.append("]").toString());
        PrepareOptions o = PrepareOptions.defaults().withValSize(10);
        PreparedDataset a = Datasets.prepare(f.toString(), null, BYTES, o), b = Datasets.prepare(f.toString(), null, BYTES, o);
        assertEquals(40, a.train().size());
        assertEquals(10, a.val().size());
        assertEquals(texts(a.val()), texts(b.val()));
        List<String> all = new ArrayList<>(texts(a.train()));
        all.addAll(texts(a.val()));
        assertEquals(50, all.stream().distinct().count());
        PreparedDataset c = Datasets.prepare(f.toString(), null, BYTES, o.withSeed(7));
        assertTrue(!texts(a.val()).equals(texts(c.val())), "another seed, another split");
        assertEquals(50, a.summary().examples());
        assertEquals(a.train().tokenCount(), a.summary().trainTokens());
    }

    private static List<String> texts(ExampleSet s) {
        return IntStream.range(0, s.size()).mapToObj(i -> BYTES.decode(s.tokens(i))).collect(Collectors.toList());
    }

    @Test
    void dollyMapsContextToInput() throws IOException {
        Path f = Fixtures.write(dir, "d.jsonl", Fixtures.DOLLY);
        PreparedDataset d = Datasets.prepare(f.toString(), null, BYTES, PrepareOptions.defaults().withValSize(1));
        List<String> all = new ArrayList<>(texts(d.train()));
        all.addAll(texts(d.val()));
        assertTrue(all.contains(AlpacaTemplate.prompt("Add the numbers.", "2 and 3") + "5"), all.toString());
    }

    @Test
    void badLinesNameFileLineAndField() throws IOException {
        Path f = Fixtures.write(dir, "bad.jsonl", """
                {"instruction": "a", "response": "b"}
                {"instruction": "a", "response": "b"
                {"instruction": "a"}
                {"instruction": "a", "response": 7}
                ["not an object"]
                {"instruction": "a", "context": null, "response": "b"}
                {"instruction": "a", "response": "b"} trailing
                """);
        String spec = f.toString();
        UserException e = assertThrows(UserException.class, () -> Datasets.prepare(spec, null, BYTES, PrepareOptions.defaults()));
        assertTrue(e.getMessage().startsWith(spec + " line 2: not valid JSON"), e.getMessage());

        List<Example> kept = new ArrayList<>();
        SkippedLines s = Datasets.readExamples(spec, null, true, kept::add);
        assertEquals(5, s.count());
        assertEquals(List.of(2L, 3L, 4L, 5L, 7L), s.firstLines());
        assertEquals(List.of(new Example("a", "", "b"), new Example("a", "", "b")), kept);
        assertEquals("5 bad lines skipped (lines 2, 3, 4, 5, 7)", s.toString());

        Path missing = Fixtures.write(dir, "m.jsonl", "{\"instruction\": \"a\", \"response\": \"b\"}\n{\"instruction\": \"a\"}\n");
        e = assertThrows(UserException.class, () -> Datasets.readExamples(missing.toString(), null, false, x -> {}));
        assertTrue(e.getMessage().startsWith(missing + " line 2: field \"response\" is missing"), e.getMessage());
        Path wrong = Fixtures.write(dir, "w.jsonl", "{\"instruction\": [1], \"response\": \"b\"}\n");
        e = assertThrows(UserException.class, () -> Datasets.readExamples(wrong.toString(), null, false, x -> {}));
        assertTrue(e.getMessage().startsWith(wrong + " line 1: field \"instruction\" must be a string, not an array"), e.getMessage());
    }

    @Test
    void badAlpacaRecordsNameTheirLine() throws IOException {
        Path f = Fixtures.write(dir, "bad.json", """
                [
                  {"instruction": "a", "output": "b"},
                  {"instruction": "a",
                   "input": 3, "output": "b"},
                  "text",
                  {"instruction": "a", "output": "b"}
                ]
                """);
        UserException e = assertThrows(UserException.class, () -> Datasets.readExamples(f.toString(), null, false, x -> {}));
        assertTrue(e.getMessage().startsWith(f + " line 3: field \"input\" must be a string, not a number"), e.getMessage());
        PreparedDataset d = Datasets.prepare(f.toString(), null, BYTES, PrepareOptions.defaults().withValSize(0).withSkipBadLines(true));
        assertEquals(2, d.summary().examples());
        assertEquals(new SkippedLines(2, List.of(3L, 5L)), d.summary().skipped());

        Path broken = Fixtures.write(dir, "broken.json", "[\n{\"instruction\": \"a\", \"output\": \"b\"},\n{\"instruction\": \"a\" \"output\"}\n]");
        e = assertThrows(UserException.class, () -> Datasets.readExamples(broken.toString(), null, true, x -> {}));
        assertTrue(e.getMessage().startsWith(broken + " line 3: not valid JSON"), e.getMessage());
        Path cut = Fixtures.write(dir, "cut.json", "[\n{\"instruction\": \"a\", \"output\": \"b\"},\n");
        e = assertThrows(UserException.class, () -> Datasets.readExamples(cut.toString(), null, false, x -> {}));
        assertTrue(e.getMessage().contains("cut.json"), e.getMessage());
    }

    @Test
    void emptyDatasetsAndTooLargeValidation() throws IOException {
        for (String[] c : new String[][] {{"e.json", "[]"}, {"e2.json", ""}, {"e.jsonl", "\n\n"}}) {
            Path f = Fixtures.write(dir, c[0], c[1]);
            UserException e = assertThrows(UserException.class, () -> Datasets.prepare(f.toString(), null, BYTES, PrepareOptions.defaults()));
            assertEquals(f + ": the dataset has no examples", e.getMessage());
        }
        Path onlyBad = Fixtures.write(dir, "b.jsonl", "{}\n");
        UserException e = assertThrows(UserException.class,
                () -> Datasets.prepare(onlyBad.toString(), null, BYTES, PrepareOptions.defaults().withSkipBadLines(true)));
        assertEquals(onlyBad + ": the dataset has no examples (1 bad line skipped (line 1))", e.getMessage());

        Path f = Fixtures.write(dir, "a.json", Fixtures.ALPACA);
        e = assertThrows(UserException.class, () -> Datasets.prepare(f.toString(), null, BYTES, PrepareOptions.defaults()));
        assertTrue(e.getMessage().contains("2000") && e.getMessage().contains("3"), e.getMessage());
        e = assertThrows(UserException.class, () -> Datasets.prepare(f.toString(), null, BYTES, PrepareOptions.defaults().withValSize(3)));
        assertTrue(e.getMessage().contains("validation size 3 must be smaller than the number of examples, 3"), e.getMessage());
    }

    @Test
    void plainTextIsOneStreamSplitByTokens() throws IOException {
        String text = "To be, or not to be, that is the question.\n".repeat(5);
        Path f = Fixtures.write(dir, "t.txt.bz2", text);
        PreparedDataset d = Datasets.prepare(f.toString(), null, BYTES, PrepareOptions.defaults());
        int[] all = concat(new int[] {1}, ids(text), new int[] {2});
        int nTrain = (int) (all.length * 0.9);
        assertTrue(d.isText());
        assertArrayEquals(java.util.Arrays.copyOfRange(all, 0, nTrain), d.train().tokens(0));
        assertArrayEquals(java.util.Arrays.copyOfRange(all, nTrain, all.length), d.val().tokens(0));
        assertEquals(0, d.train().promptLength(0));
        Path empty = Fixtures.write(dir, "e.txt", "");
        UserException e = assertThrows(UserException.class, () -> Datasets.prepare(empty.toString(), null, BYTES, PrepareOptions.defaults()));
        assertEquals(empty + ": the text is empty", e.getMessage());
    }
}
