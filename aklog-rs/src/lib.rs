//! aklog, tokens and unlog: the binaries come with the aklog issue; this
//! library is where their shared logic will live.

#![forbid(unsafe_code)]
