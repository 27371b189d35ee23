package dev.peft4j.models.peft;

import dev.peft4j.api.GatedAttentionHook;
import dev.peft4j.api.KvPrefixHook;
import dev.peft4j.api.LinearHook;
import dev.peft4j.api.LinearMapHook;
import dev.peft4j.api.LinearSite;
import dev.peft4j.api.Pass;
import java.util.ArrayList;
import java.util.List;

/**
 * The hooks installed on one model, by site, in registration order. The model's forward and
 * backward call {@link #linearForward} and {@link #linearBackward} after each base matmul; a site
 * without hooks costs one array read.
 */
public final class Hooks {
    /** A hook and whether its adapter is active. */
    private record Entry<H>(H hook, Owner owner) {}

    /** The adapter a hook belongs to, to switch it off and on. */
    public static final class Owner {
        private boolean active = true;
        public boolean active() { return active; }
        public void setActive(boolean active) { this.active = active; }
    }

    private final int layers;
    private final List<Entry<LinearHook>>[] linear;          // [layer * KINDS + kind], LM_HEAD at the end
    private final List<Entry<LinearMapHook>>[] inputMaps;    // [layer * KINDS + kind]
    private final List<Entry<LinearMapHook>>[] outputMaps;   // [layer * KINDS + kind]
    private final List<Entry<KvPrefixHook>>[] kvPrefix;      // [layer]
    private final List<Entry<GatedAttentionHook>>[] gated;   // [layer]
    private static final int KINDS = LinearSite.Kind.values().length;

    @SuppressWarnings("unchecked")
    public Hooks(int layers) {
        this.layers = layers;
        linear = new List[layers * KINDS + 1];
        inputMaps = new List[layers * KINDS + 1];
        outputMaps = new List[layers * KINDS + 1];
        kvPrefix = new List[layers];
        gated = new List[layers];
    }

    /** No hooks: the plain model. */
    public static Hooks none(int layers) {
        return new Hooks(layers);
    }

    private int index(LinearSite s) {
        return s.kind() == LinearSite.Kind.LM_HEAD ? layers * KINDS : s.layer() * KINDS + s.kind().ordinal();
    }

    void addLinear(LinearSite site, LinearHook hook, Owner owner) {
        if (site.layer() >= layers) throw new IllegalArgumentException("layer " + site.layer() + " does not exist (the model has " + layers + ")");
        int i = index(site);
        if (linear[i] == null) linear[i] = new ArrayList<>();
        linear[i].add(new Entry<>(hook, owner));
    }

    void addInputMap(LinearSite site, LinearMapHook hook, Owner owner) {
        addMap(inputMaps, site, hook, owner);
    }

    void addOutputMap(LinearSite site, LinearMapHook hook, Owner owner) {
        addMap(outputMaps, site, hook, owner);
    }

    private void addMap(List<Entry<LinearMapHook>>[] table, LinearSite site, LinearMapHook hook, Owner owner) {
        if (site.kind() == LinearSite.Kind.LM_HEAD) throw new IllegalArgumentException("lm_head takes no input or output maps (its logits are computed in chunks)");
        if (site.layer() >= layers) throw new IllegalArgumentException("layer " + site.layer() + " does not exist (the model has " + layers + ")");
        int i = index(site);
        if (table[i] == null) table[i] = new ArrayList<>();
        table[i].add(new Entry<>(hook, owner));
    }

    /** Active maps of a linear's input, in registration order. */
    public List<LinearMapHook> inputMaps(LinearSite site) {
        return active(inputMaps[index(site)]);
    }

    /** Active maps of a linear's output, in registration order. */
    public List<LinearMapHook> outputMaps(LinearSite site) {
        return active(outputMaps[index(site)]);
    }

    void addKvPrefix(int layer, KvPrefixHook hook, Owner owner) {
        checkLayer(layer);
        if (kvPrefix[layer] == null) kvPrefix[layer] = new ArrayList<>();
        kvPrefix[layer].add(new Entry<>(hook, owner));
    }

    void addGated(int layer, GatedAttentionHook hook, Owner owner) {
        checkLayer(layer);
        if (gated[layer] == null) gated[layer] = new ArrayList<>();
        gated[layer].add(new Entry<>(hook, owner));
    }

    private void checkLayer(int layer) {
        if (layer < 0 || layer >= layers) throw new IllegalArgumentException("layer " + layer + " does not exist (the model has " + layers + ")");
    }

    /** Removes every hook of an owner (unloading an adapter). */
    void remove(Owner owner) {
        for (List<? extends Entry<?>>[] table : List.of(linear, inputMaps, outputMaps, kvPrefix, gated)) {
            for (List<? extends Entry<?>> list : table) if (list != null) list.removeIf(e -> e.owner() == owner);
        }
    }

    /** y [n][out] += every active hook's delta of x [n][in] at the site. */
    public void linearForward(LinearSite site, float[] x, float[] y, int n, Pass pass) {
        List<Entry<LinearHook>> hooks = linear[index(site)];
        if (hooks == null) return;
        for (Entry<LinearHook> e : hooks) if (e.owner().active) e.hook().forward(x, y, n, pass);
    }

    /** dx += every active hook's share; hooks accumulate their own parameter gradients. */
    public void linearBackward(LinearSite site, float[] x, float[] dy, float[] dx, int n) {
        List<Entry<LinearHook>> hooks = linear[index(site)];
        if (hooks == null) return;
        for (Entry<LinearHook> e : hooks) if (e.owner().active) e.hook().backward(x, dy, dx, n);
    }

    /** Whether any active hook sits at the site. */
    public boolean hasLinear(LinearSite site) {
        List<Entry<LinearHook>> hooks = linear[index(site)];
        if (hooks == null) return false;
        for (Entry<LinearHook> e : hooks) if (e.owner().active) return true;
        return false;
    }

    /** Active KV-prefix hooks of a layer, in order. */
    public List<KvPrefixHook> kvPrefix(int layer) {
        return active(kvPrefix[layer]);
    }

    /** Active gated-attention hooks of a layer, in order. */
    public List<GatedAttentionHook> gated(int layer) {
        return active(gated[layer]);
    }

    /** Prefix rows of a layer (sum over its active KV-prefix hooks). */
    public int prefixRows(int layer) {
        int rows = 0;
        for (KvPrefixHook h : kvPrefix(layer)) rows += h.rows();
        return rows;
    }

    private static <H> List<H> active(List<Entry<H>> list) {
        if (list == null) return List.of();
        List<H> out = new ArrayList<>(list.size());
        for (Entry<H> e : list) if (e.owner().active) out.add(e.hook());
        return out;
    }
}
