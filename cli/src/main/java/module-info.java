/** The peft4j command line. */
module dev.peft4j.cli {
    requires dev.peft4j.models;
    requires info.picocli;
    requires com.fasterxml.jackson.databind;
    requires java.management;
    requires java.desktop;
    requires org.jfree.jfreechart;
    // picocli sets the options; Jackson reads and writes compare's records (a worker's spec and row)
    opens dev.peft4j.cli to info.picocli, com.fasterxml.jackson.databind;
    exports dev.peft4j.cli.scaleout;
    uses dev.peft4j.cli.scaleout.ScaleOut;
}
