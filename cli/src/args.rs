//! Where a command's JSON arguments come from: the command line, a file (`@FILE`) or stdin
//! (`-`), parsed before anything is sent.

use std::io::Read;

/// The JSON text `arg` names: itself, the contents of `@FILE`, or stdin for `-`.
pub(crate) fn text(arg: &str) -> Result<String, String> {
    if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("cannot read the arguments from stdin: {e}"))?;
        Ok(s)
    } else if let Some(path) = arg.strip_prefix('@') {
        std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the arguments from {path}: {e}"))
    } else {
        Ok(arg.to_string())
    }
}

/// The JSON value `arg` names; `what` says what it should be, for the error.
pub(crate) fn json(arg: &str, what: &str) -> Result<serde_json::Value, String> {
    let text = text(arg)?;
    let from = match arg {
        "-" => " (from stdin)".to_string(),
        a if a.starts_with('@') => format!(" (from {})", &a[1..]),
        _ => String::new(),
    };
    serde_json::from_str(&text)
        .map_err(|e| format!("the arguments{from} are not JSON ({e}); expected {what}"))
}
