package dev.peft4j.models.train;

import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaModel;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A LLaMA forward pass entirely in double precision, straight from the equations, over named
 * tensors: the oracle for finite-difference gradient checks of {@link LlamaTrainer}.
 */
public final class DoubleLlama {
    final LlamaConfig c;
    /** The model's tensors by Hugging Face name, in double; a test may change them. */
    public final Map<String, double[]> t = new LinkedHashMap<>();
    /** Elementwise scales of a linear's input [in] or output [out], by module path (model.layers.0.self_attn.k_proj): IA³'s. */
    public final Map<String, double[]> inputScale = new java.util.HashMap<>(), outputScale = new java.util.HashMap<>();

    public DoubleLlama(dev.peft4j.models.LlamaWeights w) {
        this.c = w.config;
        for (var tensor : w.tensors()) {
            double[] d = new double[tensor.data().length];
            for (int i = 0; i < d.length; i++) d[i] = tensor.data()[i];
            t.put(tensor.name(), d);
        }
    }

    private double[] get(String name) {
        if (name.equals("lm_head.weight") && c.tiedEmbeddings()) return t.get("model.embed_tokens.weight");
        return t.get(name);
    }

    /** Weighted mean cross-entropy of a batch. */
    public double loss(Batch b) {
        int B = b.batchSize(), T = b.seqLen(), d = c.dim(), kv = c.kvDim(), hd = c.headDim(), H = c.nHeads(), hid = c.hiddenDim();
        double[] inv = LlamaModel.inverseFrequencies(c);
        double total = 0, weightSum = 0;
        for (int s = 0; s < B; s++) {
            double[][] x = new double[T][d];
            double[] emb = get("model.embed_tokens.weight");
            for (int i = 0; i < T; i++) for (int j = 0; j < d; j++) x[i][j] = emb[b.inputs()[s * T + i] * d + j];
            for (int l = 0; l < c.nLayers(); l++) {
                String p = "model.layers." + l + ".";
                double[][] xb = norm(x, get(p + "input_layernorm.weight"));
                double[][] q = linear(p + "self_attn.q_proj", xb, d), k = linear(p + "self_attn.k_proj", xb, kv),
                        v = linear(p + "self_attn.v_proj", xb, kv);
                rope(q, H, hd, inv);
                rope(k, c.nKvHeads(), hd, inv);
                double[][] a = new double[T][d];
                for (int i = 0; i < T; i++)
                    for (int h = 0; h < H; h++) {
                        int g = h / (H / c.nKvHeads());
                        double[] sc = new double[i + 1];
                        double max = -1e300;
                        for (int j = 0; j <= i; j++) {
                            double dot = 0;
                            for (int e = 0; e < hd; e++) dot += q[i][h * hd + e] * k[j][g * hd + e];
                            sc[j] = dot / Math.sqrt(hd);
                            max = Math.max(max, sc[j]);
                        }
                        double sum = 0;
                        for (int j = 0; j <= i; j++) sum += sc[j] = Math.exp(sc[j] - max);
                        for (int j = 0; j <= i; j++) for (int e = 0; e < hd; e++) a[i][h * hd + e] += sc[j] / sum * v[j][g * hd + e];
                    }
                add(x, linear(p + "self_attn.o_proj", a, d));
                double[][] xf = norm(x, get(p + "post_attention_layernorm.weight"));
                double[][] gt = linear(p + "mlp.gate_proj", xf, hid), up = linear(p + "mlp.up_proj", xf, hid);
                for (int i = 0; i < T; i++) for (int j = 0; j < hid; j++) gt[i][j] = gt[i][j] / (1 + Math.exp(-gt[i][j])) * up[i][j];
                add(x, linear(p + "mlp.down_proj", gt, d));
            }
            double[][] logits = lin(norm(x, get("model.norm.weight")), get("lm_head.weight"), c.vocabSize());
            for (int i = 0; i < T; i++) {
                double wgt = b.weights()[s * T + i];
                double max = -1e300;
                for (double z : logits[i]) max = Math.max(max, z);
                double sum = 0;
                for (double z : logits[i]) sum += Math.exp(z - max);
                total += wgt * (max + Math.log(sum) - logits[i][b.targets()[s * T + i]]);
                weightSum += wgt;
            }
        }
        return total / weightSum;
    }

    private double[][] norm(double[][] x, double[] w) {
        double[][] out = new double[x.length][x[0].length];
        for (int i = 0; i < x.length; i++) {
            double ss = 0;
            for (double v : x[i]) ss += v * v;
            double r = 1 / Math.sqrt(ss / x[i].length + c.normEps());
            for (int j = 0; j < x[i].length; j++) out[i][j] = x[i][j] * r * w[j];
        }
        return out;
    }

    /** x·Wᵀ of the module at path, with its input and output scales when it has them. */
    private double[][] linear(String path, double[][] x, int out) {
        double[] in = inputScale.get(path), o = outputScale.get(path);
        if (in != null) {
            double[][] xs = new double[x.length][];
            for (int i = 0; i < x.length; i++) {
                xs[i] = x[i].clone();
                for (int j = 0; j < in.length; j++) xs[i][j] *= in[j];
            }
            x = xs;
        }
        double[][] y = lin(x, get(path + ".weight"), out);
        if (o != null) for (double[] row : y) for (int j = 0; j < o.length; j++) row[j] *= o[j];
        return y;
    }

    private static double[][] lin(double[][] x, double[] w, int out) {
        int in = x[0].length;
        double[][] y = new double[x.length][out];
        for (int i = 0; i < x.length; i++)
            for (int o = 0; o < out; o++) {
                double s = 0;
                for (int k = 0; k < in; k++) s += x[i][k] * w[o * in + k];
                y[i][o] = s;
            }
        return y;
    }

    private static void rope(double[][] x, int heads, int hd, double[] inv) {
        for (int i = 0; i < x.length; i++)
            for (int h = 0; h < heads; h++)
                for (int j = 0; j < hd / 2; j++) {
                    double a = i * inv[j], x0 = x[i][h * hd + j], x1 = x[i][h * hd + j + hd / 2];
                    x[i][h * hd + j] = x0 * Math.cos(a) - x1 * Math.sin(a);
                    x[i][h * hd + j + hd / 2] = x0 * Math.sin(a) + x1 * Math.cos(a);
                }
    }

    private static void add(double[][] x, double[][] y) {
        for (int i = 0; i < x.length; i++) for (int j = 0; j < x[i].length; j++) x[i][j] += y[i][j];
    }
}
