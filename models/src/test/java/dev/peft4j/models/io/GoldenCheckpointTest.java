package dev.peft4j.models.io;

import dev.peft4j.models.LlamaWeights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

import static dev.peft4j.models.io.Llama2cCheckpointTest.assertSameWeights;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Checkpoints written by PyTorch (golden/make_golden.py): one model saved in the Hugging Face
 * layout and, with q/k rows permuted back to Meta's order, as a llama2.c {@code .bin}.
 */
class GoldenCheckpointTest {
    @TempDir
    Path dir;

    private static Path golden(String name) throws URISyntaxException {
        return Path.of(GoldenCheckpointTest.class.getResource("golden/" + name).toURI());
    }

    @Test
    void torchsTwoLayoutsLoadToTheSameWeights() throws Exception {
        LlamaWeights fromBin = Checkpoints.load(golden("model.bin"));
        LlamaWeights fromHf = Checkpoints.load(golden("hf"));
        assertSameWeights(fromHf, fromBin);
        System.out.printf("golden: wq[0] first values %.6f %.6f %.6f, layers %d, GQA %d/%d%n", fromHf.wq[0].toF32()[0], fromHf.wq[0].toF32()[1],
                fromHf.wq[0].toF32()[2], fromHf.config.nLayers(), fromHf.config.nHeads(), fromHf.config.nKvHeads());
    }

    /** Our .bin equals torch's byte for byte except the RoPE tables, which agree to within one float32 ulp. */
    @Test
    void rewritingTorchsBinChangesOnlyTableRounding() throws Exception {
        Path original = golden("model.bin"), rewritten = dir.resolve("model.bin");
        LlamaWeights w = Llama2cCheckpoint.read(original);
        Llama2cCheckpoint.write(w, rewritten);
        ByteBuffer a = ByteBuffer.wrap(Files.readAllBytes(original)).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(rewritten)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(a.capacity(), b.capacity());
        var c = w.config;
        int tableFloats = c.maxSeqLen() * c.headDim(); // cos and sin
        int tablesEnd = a.capacity() - 4 * c.vocabSize() * c.dim(), tablesStart = tablesEnd - 4 * tableFloats;
        int differing = 0;
        double maxDiff = 0;
        for (int i = 0; i < a.capacity(); i += 4) {
            if (i >= tablesStart && i < tablesEnd) {
                float x = a.getFloat(i), y = b.getFloat(i);
                assertEquals(x, y, Math.ulp(x), "RoPE table at byte " + i);
                if (x != y) differing++;
                maxDiff = Math.max(maxDiff, Math.abs(x - y));
            } else {
                assertEquals(a.getInt(i), b.getInt(i), "byte " + i);
            }
        }
        System.out.printf("golden .bin: %d of %d table values differ from torch's, max diff %.3g%n", differing, tableFloats, maxDiff);
    }

    @Test
    void rewritingTorchsHfCheckpointKeepsTheTensorBytes() throws Exception {
        LlamaWeights w = HfCheckpoint.read(golden("hf"));
        HfCheckpoint.write(w, dir, dev.peft4j.api.io.DType.F32, 0);
        try (var ours = dev.peft4j.api.io.Safetensors.open(dir.resolve("model.safetensors"));
             var theirs = dev.peft4j.api.io.Safetensors.open(golden("hf/model.safetensors"))) {
            assertEquals(theirs.names(), ours.names());
            for (String n : theirs.names()) {
                assertArrayEquals(theirs.shape(n), ours.shape(n), n);
                assertArrayEquals(theirs.readFloats(n), ours.readFloats(n), n);
            }
        }
    }
}
