//! The documents the stand-in serves: PDF-looking bytes of any size, generated chunk by chunk
//! from the document's id (so a test knows their SHA-256 without holding them), and a small valid
//! PDF for the demo.

use domain::ids::DocumentId;
use sha2::{Digest, Sha256};

/// The stand-in's chunk size.
pub(crate) const CHUNK: usize = 64 * 1024;

/// A `size`-byte PDF-looking document for `document`: a PDF header, filler that depends on the
/// document, and the end-of-file marker.
pub fn pdf_bytes(document: DocumentId, size: usize) -> Vec<u8> {
    pdf_range(document, size, 0, size)
}

/// The SHA-256 (hex) of [`pdf_bytes`], computed without holding the document.
pub fn pdf_sha256(document: DocumentId, size: usize) -> String {
    let mut hasher = Sha256::new();
    let mut offset = 0;
    while offset < size {
        let end = (offset + CHUNK).min(size);
        hasher.update(pdf_range(document, size, offset, end));
        offset = end;
    }
    hex::encode(hasher.finalize())
}

pub(crate) fn pdf_range(document: DocumentId, size: usize, start: usize, end: usize) -> Vec<u8> {
    let header = format!("%PDF-1.7\n% {document}\n").into_bytes();
    let trailer = b"\n%%EOF\n";
    let seed = document.as_uuid().as_bytes();
    (start..end)
        .map(|i| {
            if i < header.len() {
                header[i]
            } else if i + trailer.len() >= size && size >= header.len() + trailer.len() {
                trailer[i + trailer.len() - size]
            } else {
                b'A' + (seed[i % 16].wrapping_add((i / 16) as u8) % 26)
            }
        })
        .collect()
}

/// A small, valid one-page PDF showing `title`.
pub fn small_pdf(title: &str) -> Vec<u8> {
    let text: String = title.chars().filter(|c| c.is_ascii_alphanumeric() || " -_.".contains(*c)).collect();
    let content = format!("BT /F1 14 Tf 72 720 Td (everbright-sync sample document {text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_owned(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    pdf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_pdfs_have_the_size_asked_and_start_and_end_like_pdfs() {
        let document: DocumentId = "3f230ca4-b147-49ae-9187-8b64c7eea62c".parse().unwrap();
        let bytes = pdf_bytes(document, 200_000);
        assert_eq!(bytes.len(), 200_000);
        assert!(bytes.starts_with(b"%PDF-") && bytes.ends_with(b"%%EOF\n"));
        assert_eq!(pdf_sha256(document, 200_000), hex::encode(Sha256::digest(&bytes)));
    }

    #[test]
    fn the_small_pdf_has_a_correct_cross_reference_table() {
        let pdf = small_pdf("doc");
        let text = String::from_utf8(pdf.clone()).unwrap();
        let startxref: usize = text.rsplit("startxref\n").next().unwrap().lines().next().unwrap().parse().unwrap();
        assert!(text[startxref..].starts_with("xref"));
        let first_object = text.find("1 0 obj").unwrap();
        assert!(text.contains(&format!("{first_object:010} 00000 n")));
    }
}
