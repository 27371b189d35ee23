/** The LLaMA kernel set: every op as a forward and backward pair, with plain references. */
module dev.peft4j.kernels {
    requires jdk.incubator.vector;
    exports dev.peft4j.kernels;
    exports dev.peft4j.kernels.reference;
    exports dev.peft4j.kernels.quant;
    uses dev.peft4j.kernels.DeviceBackend;
}
