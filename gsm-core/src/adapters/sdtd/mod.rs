//! 7 Days to Die over its Telnet console (lands with issue #5).
