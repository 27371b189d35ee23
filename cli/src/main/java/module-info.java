/** The peft4j command line. */
module dev.peft4j.cli {
    requires dev.peft4j.models;
    requires info.picocli;
    requires com.fasterxml.jackson.databind;
    requires java.management;
    requires java.desktop;
    requires org.jfree.jfreechart;
    opens dev.peft4j.cli to info.picocli;
}
