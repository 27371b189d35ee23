/** The LoRA plugin. */
module dev.peft4j.lora {
    requires dev.peft4j.api;
    requires dev.peft4j.kernels;
    requires com.fasterxml.jackson.databind;
    exports dev.peft4j.lora;
    opens dev.peft4j.lora to com.fasterxml.jackson.databind;
    provides dev.peft4j.api.PeftMethod with dev.peft4j.lora.LoraMethod;
}
