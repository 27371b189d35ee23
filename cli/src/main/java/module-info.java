/** The peft4j command line. */
module dev.peft4j.cli {
    requires dev.peft4j.models;
    requires info.picocli;
    requires com.fasterxml.jackson.databind;
    requires java.management;
    opens dev.peft4j.cli to info.picocli;
    exports dev.peft4j.cli.scaleout;
    uses dev.peft4j.cli.scaleout.ScaleOut;
}
