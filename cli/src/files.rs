//! The static files of `wirecall web`: the demo page and the built package, from a root
//! directory, never from outside it.
//!
//! A request path maps to a file under the root after percent-decoding; a `..` segment is
//! refused (400), hidden files (a segment starting with `.`) and anything that resolves
//! outside the root (a symbolic link leading out) are not found (404). Files are sent in
//! pieces through a fixed buffer, with `Cache-Control: no-store` (the page is rebuilt
//! while the server runs).

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use crate::http::{self, Head};

/// The page `/` shows, under the root.
const INDEX: &str = "demo/index.html";

/// The built package (`npm run build` in js/), under the root.
const DIST: &str = "dist";

/// The size of the pieces a file is sent in.
const PIECE: usize = 16 * 1024;

/// The root, made absolute, if it has the page and the built package; else what is
/// missing and how to get it.
pub(crate) fn check_root(root: &Path) -> Result<PathBuf, String> {
    let how = "build it with `npm run build` in js/, or give another root with --root DIR or \
               WIRECALL_WEB_ROOT";
    let Ok(canonical) = root.canonicalize() else {
        return Err(format!(
            "the web root {} does not exist: {how}",
            root.display()
        ));
    };
    if !canonical.join(INDEX).is_file() {
        return Err(format!(
            "the web root {} has no {INDEX} (the demo page): {how}",
            root.display()
        ));
    }
    if !canonical.join(DIST).is_dir() {
        return Err(format!(
            "the web root {} has no {DIST}/ (the built wasm package): {how}",
            root.display()
        ));
    }
    Ok(canonical)
}

/// Answers a request for a file under `root` (canonical, from [`check_root`]).
pub(crate) fn answer(stream: &mut TcpStream, head: &Head, root: &Path) {
    let with_body = match head.method.as_str() {
        "GET" => true,
        "HEAD" => false,
        _ => {
            let text = "only GET and HEAD are served here\n";
            return http::respond_text(stream, 405, text, &[("Allow", "GET, HEAD")]);
        }
    };
    let found = resolve(root, head.path()).and_then(|path| {
        let file = File::open(&path).map_err(|_| (404, "not found"))?;
        let len = file.metadata().map_err(|_| (404, "not found"))?.len();
        Ok((path, file, len))
    });
    let (path, mut file, len) = match found {
        Ok(found) => found,
        Err((status, why)) => return http::respond_text(stream, status, &format!("{why}\n"), &[]),
    };
    let length = len.to_string();
    let headers = [
        ("Content-Type", content_type(&path)),
        ("Content-Length", length.as_str()),
        ("Cache-Control", "no-store"),
    ];
    if http::write_head(stream, 200, &headers).is_err() || !with_body {
        return;
    }
    // The length announced is what goes: a file that shrank meanwhile ends the
    // connection short, one that grew is cut.
    let mut piece = vec![0u8; PIECE];
    let mut left = len;
    while left > 0 {
        let want = piece.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match file.read(piece.get_mut(..want).unwrap_or_default()) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stream
            .write_all(piece.get(..n).unwrap_or_default())
            .is_err()
        {
            return;
        }
        left -= n as u64;
    }
}

/// The file a request path names under `root`, or the status and reason to refuse it.
fn resolve(root: &Path, path: &str) -> Result<PathBuf, (u16, &'static str)> {
    if path == "/" {
        return Ok(root.join(INDEX));
    }
    let Some(decoded) = percent_decode(path) else {
        return Err((400, "the path is not percent-encoded UTF-8"));
    };
    if !decoded.starts_with('/') || decoded.contains(['\0', '\\']) {
        return Err((400, "the path must be absolute, with no NUL or backslash"));
    }
    let mut file = root.to_path_buf();
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        if segment == ".." {
            return Err((400, "the path leaves the web root"));
        }
        if segment.starts_with('.') {
            return Err((404, "not found")); // hidden files are not served
        }
        file.push(segment);
    }
    if file.is_dir() {
        file.push("index.html");
    }
    // Where it really is, symbolic links followed: under the root, or not found.
    match file.canonicalize() {
        Ok(real) if real.starts_with(root) && real.is_file() => Ok(real),
        _ => Err((404, "not found")),
    }
}

/// `path` with its `%XX` escapes decoded, if they are well-formed and make UTF-8.
fn percent_decode(path: &str) -> Option<String> {
    let mut out = Vec::with_capacity(path.len());
    let mut bytes = path.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            let hex = std::str::from_utf8(&hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// The content type of a file, by its extension. `.wasm` must be `application/wasm` for
/// browsers to compile it while it streams in.
fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
    {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "ts" | "txt" | "md" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn escapes_out_of_the_root_are_refused() {
        let root = std::env::temp_dir();
        let root = root.canonicalize().unwrap();
        for path in [
            "/../etc/passwd",
            "/a/../../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/%2E%2E%2Fetc%2Fpasswd",
            "/a%5c..%5c..",
            "/%00",
        ] {
            assert_eq!(resolve(&root, path).map_err(|e| e.0), Err(400), "{path}");
        }
        assert_eq!(resolve(&root, "/%zz").map_err(|e| e.0), Err(400));
        assert_eq!(resolve(&root, "/.hidden").map_err(|e| e.0), Err(404));
        assert_eq!(resolve(&root, "/no/such/file").map_err(|e| e.0), Err(404));
    }

    #[test]
    fn content_types_suit_browsers() {
        assert_eq!(content_type(Path::new("a/b.wasm")), "application/wasm");
        assert_eq!(
            content_type(Path::new("x.mjs")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("x.map")), "application/json");
        assert_eq!(content_type(Path::new("x.ts")), "text/plain; charset=utf-8");
    }
}
