//! Just enough MIME to read what lettre sends: headers, multipart bodies, and the
//! quoted-printable and base64 transfer encodings. For tests, not for the wild.

use base64::Engine;

const MAX_DEPTH: usize = 8;

/// One leaf part of a message: its content type (without parameters) and its body,
/// transfer-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MimePart {
    pub content_type: String,
    pub body: String,
}

/// Splits an entity into its header block and its body.
pub(crate) fn split(entity: &str) -> (&str, &str) {
    entity
        .split_once("\r\n\r\n")
        .or_else(|| entity.split_once("\n\n"))
        .unwrap_or((entity, ""))
}

/// The named header, unfolded, with RFC 2047 encoded words decoded.
pub(crate) fn header(headers: &str, name: &str) -> Option<String> {
    let unfolded = headers.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| decode_words(v.trim()))
    })
}

pub(crate) fn parts(entity: &str) -> Vec<MimePart> {
    let mut out = Vec::new();
    collect(entity, 0, &mut out);
    out
}

fn collect(entity: &str, depth: usize, out: &mut Vec<MimePart>) {
    let (headers, body) = split(entity);
    let ctype = header(headers, "Content-Type").unwrap_or_else(|| "text/plain".into());
    let kind = ctype
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if kind.starts_with("multipart/")
        && depth < MAX_DEPTH
        && let Some(boundary) = param(&ctype, "boundary")
    {
        for part in body.split(&format!("--{boundary}")).skip(1) {
            if part.starts_with("--") {
                break;
            }
            collect(part.trim_start_matches(['\r', '\n']), depth + 1, out);
        }
        return;
    }
    let cte = header(headers, "Content-Transfer-Encoding").unwrap_or_default();
    out.push(MimePart {
        content_type: kind,
        body: decode_body(body, &cte),
    });
}

/// A parameter of a header value: `boundary="abc"` -> `abc`.
fn param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

fn decode_body(body: &str, cte: &str) -> String {
    let bytes = match cte.trim().to_ascii_lowercase().as_str() {
        "quoted-printable" => quoted_printable(body),
        "base64" => base64_lenient(body),
        _ => body.as_bytes().to_vec(),
    };
    String::from_utf8_lossy(&bytes)
        .trim_end_matches(['\r', '\n'])
        .to_string()
}

fn quoted_printable(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'=' {
            out.push(b[i]);
            i += 1;
        } else if b[i + 1..].starts_with(b"\r\n") {
            i += 3;
        } else if b[i + 1..].starts_with(b"\n") {
            i += 2;
        } else if let Some(v) = b.get(i + 1..i + 3).and_then(hex_byte) {
            out.push(v);
            i += 3;
        } else {
            out.push(b'=');
            i += 1;
        }
    }
    out
}

fn hex_byte(two: &[u8]) -> Option<u8> {
    u8::from_str_radix(std::str::from_utf8(two).ok()?, 16).ok()
}

fn base64_lenient(s: &str) -> Vec<u8> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(clean)
        .unwrap_or_default()
}

/// Decodes `=?charset?B|Q?...?=` words (UTF-8 assumed); other text is kept.
fn decode_words(v: &str) -> String {
    let mut out = String::new();
    let mut rest = v;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let before = &rest[..start];
        match encoded_word(&rest[start..]) {
            Some((word, after)) => {
                // Whitespace between two encoded words is not text (RFC 2047 6.2).
                if !(after_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&word);
                after_word = true;
                rest = after;
            }
            None => {
                out.push_str(&rest[..start + 2]);
                after_word = false;
                rest = &rest[start + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn encoded_word(s: &str) -> Option<(String, &str)> {
    let inner = s.strip_prefix("=?")?;
    let mut it = inner.splitn(3, '?');
    let (_charset, enc, tail) = (it.next()?, it.next()?, it.next()?);
    let end = tail.find("?=")?;
    let text = &tail[..end];
    let bytes = match enc.to_ascii_uppercase().as_str() {
        "B" => base64_lenient(text),
        "Q" => quoted_printable(&text.replace('_', " ")),
        _ => return None,
    };
    Some((
        String::from_utf8_lossy(&bytes).into_owned(),
        &tail[end + 2..],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_lettre_style_multipart() {
        let msg = "Subject: =?utf-8?b?WsO2ZQ==?= =?utf-8?q?_and_more?=\r\n\
                   Content-Type: multipart/alternative;\r\n boundary=\"XyZ\"\r\n\r\n\
                   --XyZ\r\nContent-Type: text/plain; charset=utf-8\r\n\
                   Content-Transfer-Encoding: quoted-printable\r\n\r\n\
                   caf=C3=A9 long=\r\n line\r\n\
                   --XyZ\r\nContent-Type: text/html; charset=utf-8\r\n\
                   Content-Transfer-Encoding: base64\r\n\r\nPGI+aGk8L2I+\r\n\
                   --XyZ--\r\n";
        assert_eq!(
            header(split(msg).0, "subject").as_deref(),
            Some("Zöe and more")
        );
        let p = parts(msg);
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].content_type.as_str(), p[0].body.as_str()),
            ("text/plain", "café long line")
        );
        assert_eq!(
            (p[1].content_type.as_str(), p[1].body.as_str()),
            ("text/html", "<b>hi</b>")
        );
    }
}
