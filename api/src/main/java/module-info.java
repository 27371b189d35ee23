/** The public peft4j API and the PEFT plugin SPI. Depends on nothing else of peft4j. */
module dev.peft4j.api {
    requires transitive com.fasterxml.jackson.databind;
    exports dev.peft4j.api;
    exports dev.peft4j.api.io;
}
