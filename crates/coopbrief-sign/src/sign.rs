//! Signing: appends one incremental update holding the signature dictionary, an invisible signature field and
//! widget on the first page (in the structure tree of a tagged PDF), and the CMS signature; the original bytes stay
//! an exact prefix of the result.

use std::collections::HashSet;

use ring::digest;

use crate::error::{Error, Result, pdf_err};
use crate::identity::SigningIdentity;
use crate::pdf::{self, Dict, Doc, Obj, text_string, write_dict, write_obj};

/// How to sign.
#[derive(Clone, Debug)]
pub struct SignOptions {
    /// The signing time, written as the signature dictionary's /M (PAdES puts no signing-time attribute in the CMS).
    pub signing_time: jiff::Timestamp,
    /// Why the document is signed (/Reason), e.g. "Ban hành văn bản".
    pub reason: Option<String>,
    /// Where (/Location), e.g. "Hà Nội".
    pub location: Option<String>,
    /// How to reach the signer (/ContactInfo).
    pub contact: Option<String>,
    /// The signer's name (/Name); the certificate's common name when absent.
    pub name: Option<String>,
    /// An RFC 3161 time-stamp authority (`http://` only) for a PAdES B-T signature.
    pub tsa_url: Option<String>,
}

impl SignOptions {
    /// Options with only the signing time set.
    pub fn new(signing_time: jiff::Timestamp) -> SignOptions {
        SignOptions { signing_time, reason: None, location: None, contact: None, name: None, tsa_url: None }
    }
}

/// Placeholder of one /ByteRange number: ten digits, padded with spaces once filled.
const BR_WIDTH: usize = 10;

/// Signs `pdf` with a PAdES baseline B-B signature (B-T when `opts.tsa_url` is set) as an incremental update.
pub fn sign_pdf(pdf: &[u8], id: &SigningIdentity, opts: &SignOptions) -> Result<Vec<u8>> {
    let doc = Doc::load(pdf)?;
    if doc.trailer.get("Encrypt").is_some() {
        return Err(Error::Unsupported("signing an encrypted pdf".into()));
    }
    let tsa = match &opts.tsa_url {
        Some(url) => Some(crate::tsa::Tsa::new(url)?),
        None => None,
    };
    let root_ref =
        doc.trailer.get("Root").and_then(Obj::as_ref_id).ok_or_else(|| pdf_err("the trailer has no /Root"))?;
    let mut catalog = doc.dict_of(&Obj::Ref(root_ref.0, root_ref.1), "catalog")?;
    let page_ref = first_page(&doc, &catalog)?;
    let mut page = doc.dict_of(&Obj::Ref(page_ref.0, page_ref.1), "first page")?;

    let mut next = doc.size;
    let mut alloc = || {
        let n = next;
        next += 1;
        n
    };
    let sig_num = alloc();
    let field_num = alloc();
    let ap_num = alloc();
    // Objects rewritten or added in the increment: (number, generation, dictionary or array).
    let mut changed: Vec<(u32, u16, Obj)> = Vec::new();
    let mut catalog_changed = false;

    // The AcroForm: extend the catalog's, or make one.
    let (field_name, already_signed);
    match catalog.get("AcroForm").cloned() {
        Some(Obj::Ref(n, g)) => {
            let mut form = doc.dict_of(&Obj::Ref(n, g), "acroform")?;
            (field_name, already_signed) = add_field(&doc, &mut form, field_num, &mut changed)?;
            changed.push((n, g, Obj::Dict(form)));
        }
        Some(Obj::Dict(mut form)) => {
            (field_name, already_signed) = add_field(&doc, &mut form, field_num, &mut changed)?;
            catalog.set("AcroForm", Obj::Dict(form));
            catalog_changed = true;
        }
        _ => {
            let form_num = alloc();
            let mut form = Dict::default();
            (field_name, already_signed) = add_field(&doc, &mut form, field_num, &mut changed)?;
            changed.push((form_num, 0, Obj::Dict(form)));
            catalog.set("AcroForm", Obj::Ref(form_num, 0));
            catalog_changed = true;
        }
    }

    // The widget goes into the first page's /Annots.
    match page.get("Annots").cloned() {
        Some(Obj::Ref(n, g)) => match doc.resolve(&Obj::Ref(n, g))? {
            Obj::Array(mut a) => {
                a.push(Obj::Ref(field_num, 0));
                changed.push((n, g, Obj::Array(a)));
            }
            _ => {
                page.set("Annots", Obj::Array(vec![Obj::Ref(field_num, 0)]));
            }
        },
        Some(Obj::Array(mut a)) => {
            a.push(Obj::Ref(field_num, 0));
            page.set("Annots", Obj::Array(a));
        }
        _ => page.set("Annots", Obj::Array(vec![Obj::Ref(field_num, 0)])),
    }

    let signer_name = opts
        .name
        .clone()
        .or_else(|| crate::asn1::common_name(id.cert.tbs_certificate().subject()))
        .unwrap_or_else(|| id.subject());
    let description = format!("Chữ ký số (digital signature): {signer_name}");

    // A tagged PDF: the widget becomes a /Form structure element with an object reference. Not when the document
    // is already signed: strict validators (pyHanko's diff analysis) count a changed structure tree after an earlier
    // signature as a suspicious modification, so a later signature's widget stays out of the tree.
    let mut struct_parent = None;
    if let (Some(Obj::Ref(root_n, root_g)), false) = (catalog.get("StructTreeRoot").cloned(), already_signed) {
        let form_elem = alloc();
        let leaf = alloc();
        struct_parent =
            tag_widget(&doc, (root_n, root_g), form_elem, leaf, field_num, page_ref, &description, &mut changed)?;
        if struct_parent.is_none() {
            next -= 2;
        } else if page.get("Tabs").is_none() {
            // PDF/UA: a page with annotations orders them by structure.
            page.set("Tabs", Obj::name("S"));
        }
    }
    changed.push((page_ref.0, page_ref.1, Obj::Dict(page)));
    if catalog_changed {
        changed.push((root_ref.0, root_ref.1, Obj::Dict(catalog)));
    }

    // The widget, merged with its field.
    let mut widget = Dict::default();
    widget.set("Type", Obj::name("Annot"));
    widget.set("Subtype", Obj::name("Widget"));
    widget.set("FT", Obj::name("Sig"));
    widget.set("T", text_string(&field_name));
    widget.set("TU", text_string(&description));
    widget.set("V", Obj::Ref(sig_num, 0));
    widget.set("F", Obj::Int(132));
    widget.set("Rect", Obj::Array(vec![Obj::Int(0); 4]));
    widget.set("P", Obj::Ref(page_ref.0, page_ref.1));
    let mut ap = Dict::default();
    ap.set("N", Obj::Ref(ap_num, 0));
    widget.set("AP", Obj::Dict(ap));
    if let Some(k) = struct_parent {
        widget.set("StructParent", Obj::Int(k));
    }

    // Write the increment.
    let mut out = Vec::with_capacity(pdf.len() + 32 * 1024);
    out.extend_from_slice(pdf);
    if !matches!(pdf.last(), Some(b'\n' | b'\r')) {
        out.push(b'\n');
    }
    let mut offsets: Vec<(u32, u16, usize)> = Vec::new();

    // The signature dictionary, with placeholders.
    let contents_len = contents_capacity(id, tsa.is_some());
    offsets.push((sig_num, 0, out.len()));
    out.extend_from_slice(format!("{sig_num} 0 obj\n").as_bytes());
    let mut sig = Dict::default();
    sig.set("Type", Obj::name("Sig"));
    sig.set("Filter", Obj::name("Adobe.PPKLite"));
    sig.set("SubFilter", Obj::name("ETSI.CAdES.detached"));
    sig.set("M", Obj::Str(pdf::pdf_date(opts.signing_time).into_bytes()));
    for (key, value) in
        [("Name", Some(&signer_name)), ("Reason", opts.reason.as_ref()), ("Location", opts.location.as_ref())]
    {
        if let Some(v) = value {
            sig.set(key, text_string(v));
        }
    }
    if let Some(c) = &opts.contact {
        sig.set("ContactInfo", text_string(c));
    }
    out.extend_from_slice(b"<<");
    out.extend_from_slice(&dict_body(&sig));
    out.extend_from_slice(b"/ByteRange ");
    let byte_range_at = out.len();
    out.extend_from_slice(format!("[0 {z} {z} {z}]", z = "0".repeat(BR_WIDTH)).as_bytes());
    out.extend_from_slice(b"/Contents ");
    let contents_start = out.len();
    out.push(b'<');
    out.resize(out.len() + 2 * contents_len, b'0');
    out.push(b'>');
    let contents_end = out.len();
    out.extend_from_slice(b">>\nendobj\n");

    let write = |out: &mut Vec<u8>, offsets: &mut Vec<(u32, u16, usize)>, num: u32, generation: u16, obj: &Obj| {
        offsets.push((num, generation, out.len()));
        out.extend_from_slice(format!("{num} {generation} obj\n").as_bytes());
        write_obj(out, obj);
        out.extend_from_slice(b"\nendobj\n");
    };
    write(&mut out, &mut offsets, field_num, 0, &Obj::Dict(widget));
    // An empty appearance: PDF/A wants every widget to have one.
    offsets.push((ap_num, 0, out.len()));
    out.extend_from_slice(
        format!("{ap_num} 0 obj\n<</Type/XObject/Subtype/Form/BBox[0 0 0 0]/Length 0>>\nstream\n\nendstream\nendobj\n")
            .as_bytes(),
    );
    let mut seen = HashSet::new();
    for (num, generation, obj) in &changed {
        if !seen.insert(*num) {
            return Err(pdf_err("an object would be rewritten twice"));
        }
        write(&mut out, &mut offsets, *num, *generation, obj);
    }

    // The cross-reference section and trailer, of the same kind as the original's.
    let mut trailer = doc.trailer.clone();
    for k in [
        "Prev",
        "XRefStm",
        "Type",
        "W",
        "Index",
        "Filter",
        "DecodeParms",
        "Length",
        "DL",
        "F",
        "FFilter",
        "FDecodeParms",
    ] {
        trailer.remove(k);
    }
    trailer.set("Prev", Obj::Int(i64::try_from(doc.startxref).map_err(|_| pdf_err("offset"))?));
    if doc.xref_is_stream {
        let xref_num = next;
        next += 1;
        let xref_at = out.len();
        offsets.push((xref_num, 0, xref_at));
        let (index, rows) = pdf::xref_stream_rows(&mut offsets)?;
        let mut dict = Dict::default();
        dict.set("Type", Obj::name("XRef"));
        dict.set("Size", Obj::Int(i64::from(next)));
        dict.set("Index", Obj::Array(index));
        dict.set("W", Obj::Array(vec![Obj::Int(1), Obj::Int(4), Obj::Int(2)]));
        dict.set("Length", Obj::Int(i64::try_from(rows.len()).map_err(|_| pdf_err("length"))?));
        for (k, v) in trailer.0 {
            if String::from_utf8_lossy(&k) != "Size" {
                dict.0.push((k, v));
            }
        }
        out.extend_from_slice(format!("{xref_num} 0 obj\n").as_bytes());
        write_dict(&mut out, &dict);
        out.extend_from_slice(b"\nstream\n");
        out.extend_from_slice(&rows);
        out.extend_from_slice(format!("\nendstream\nendobj\nstartxref\n{xref_at}\n%%EOF\n").as_bytes());
    } else {
        let xref_at = out.len();
        pdf::write_xref_table(&mut out, &mut offsets);
        trailer.set("Size", Obj::Int(i64::from(next)));
        out.extend_from_slice(b"trailer\n");
        write_dict(&mut out, &trailer);
        out.extend_from_slice(format!("\nstartxref\n{xref_at}\n%%EOF\n").as_bytes());
    }

    // The byte range: everything but the /Contents hex string.
    let ranges = [0, contents_start, contents_end, out.len() - contents_end];
    let br = format!("[0 {} {} {}]", ranges[1], ranges[2], ranges[3]);
    let width = 3 + 3 * BR_WIDTH + 3;
    if br.len() > width {
        return Err(pdf_err("the signed file is too large for the byte range"));
    }
    out[byte_range_at..byte_range_at + width].copy_from_slice(format!("{br:<width$}").as_bytes());

    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&out[..contents_start]);
    ctx.update(&out[contents_end..]);
    let doc_digest = ctx.finish();
    let cms = crate::cms::build(id, doc_digest.as_ref(), tsa.as_ref())?;
    if cms.len() > contents_len {
        return Err(Error::Sign(format!(
            "the signature ({} bytes) is larger than the space reserved for it",
            cms.len()
        )));
    }
    let hex = hex::encode_upper(&cms);
    out[contents_start + 1..contents_start + 1 + hex.len()].copy_from_slice(hex.as_bytes());
    Ok(out)
}

/// The body of a dictionary without its `<<`/`>>`.
fn dict_body(d: &Dict) -> Vec<u8> {
    let mut v = Vec::new();
    write_dict(&mut v, d);
    v[2..v.len() - 2].to_vec()
}

/// Bytes reserved for the CMS: the certificates, the signature, room for the attributes, and for a time-stamp token.
fn contents_capacity(id: &SigningIdentity, timestamped: bool) -> usize {
    let certs: usize = id.chain.iter().map(Vec::len).sum();
    let need = certs + id.signature_len() + 2048 + if timestamped { 12 * 1024 } else { 0 };
    need.div_ceil(1024).max(8) * 1024
}

/// Adds the field to the AcroForm's /Fields and sets /SigFlags 3; returns the field's unique name and whether the
/// form already holds a signed signature field.
fn add_field(doc: &Doc, form: &mut Dict, field_num: u32, changed: &mut Vec<(u32, u16, Obj)>) -> Result<(String, bool)> {
    let (mut fields, fields_ref) = match form.get("Fields").cloned() {
        Some(Obj::Ref(n, g)) => match doc.resolve(&Obj::Ref(n, g))? {
            Obj::Array(a) => (a, Some((n, g))),
            _ => (Vec::new(), None),
        },
        Some(Obj::Array(a)) => (a, None),
        _ => (Vec::new(), None),
    };
    let mut names = HashSet::new();
    let mut signed = false;
    for f in fields.iter().take(10_000) {
        if let Ok(d) = doc.dict_of(f, "field") {
            if let Some(Obj::Str(t)) = d.get("T") {
                names.insert(pdf::decode_text(t));
            }
            signed |= d.has_name("FT", "Sig") && d.get("V").is_some();
        }
    }
    let name = (1..).map(|i| format!("Signature{i}")).find(|n| !names.contains(n)).unwrap_or_default();
    fields.push(Obj::Ref(field_num, 0));
    match fields_ref {
        Some((n, g)) => changed.push((n, g, Obj::Array(fields))),
        None => form.set("Fields", Obj::Array(fields)),
    }
    let flags = form.get("SigFlags").and_then(Obj::as_int).unwrap_or(0);
    form.set("SigFlags", Obj::Int(flags | 3));
    // PDF/A forbids NeedAppearances true.
    if matches!(form.get("NeedAppearances"), Some(Obj::Bool(true))) {
        form.remove("NeedAppearances");
    }
    Ok((name, signed))
}

/// The first page, found by walking /Pages down its first kids.
fn first_page(doc: &Doc, catalog: &Dict) -> Result<(u32, u16)> {
    let mut node = catalog.get("Pages").and_then(Obj::as_ref_id).ok_or_else(|| pdf_err("the catalog has no /Pages"))?;
    for _ in 0..64 {
        let d = doc.dict_of(&Obj::Ref(node.0, node.1), "page tree")?;
        if d.has_name("Type", "Page") || (d.get("Kids").is_none() && d.get("Contents").is_some()) {
            return Ok(node);
        }
        let kids = match d.get("Kids") {
            Some(k) => doc.resolve(k)?,
            None => return Err(pdf_err("the page tree has no pages")),
        };
        node = match kids {
            Obj::Array(a) => a.first().and_then(Obj::as_ref_id).ok_or_else(|| pdf_err("the document has no pages"))?,
            _ => return Err(pdf_err("bad /Kids in the page tree")),
        };
    }
    Err(pdf_err("the page tree is too deep"))
}

/// Puts the widget into the structure tree: a /Form element (object `form_elem`) under the document element with an
/// /OBJR to the widget, and an entry in the ParentTree. Returns the widget's /StructParent key, or None when the
/// tree has a shape this crate does not extend.
#[allow(clippy::too_many_arguments)]
fn tag_widget(
    doc: &Doc,
    root_ref: (u32, u16),
    form_elem: u32,
    leaf: u32,
    widget: u32,
    page: (u32, u16),
    description: &str,
    changed: &mut Vec<(u32, u16, Obj)>,
) -> Result<Option<i64>> {
    let mut root = doc.dict_of(&Obj::Ref(root_ref.0, root_ref.1), "structure tree root")?;
    // The parent element: the single top-level element (the Document), else the root itself.
    let kids = root.get("K").cloned();
    let single = match &kids {
        Some(Obj::Ref(n, g)) => Some((*n, *g)),
        Some(Obj::Array(a)) if a.len() == 1 => a[0].as_ref_id(),
        _ => None,
    };
    let parent = match single {
        Some((n, g)) => match doc.resolve(&Obj::Ref(n, g))? {
            Obj::Dict(d) if d.get("S").is_some() => Some((n, g, d)),
            _ => None,
        },
        None => None,
    };
    let mut parent_tree_changes: Vec<(u32, u16, Obj)> = Vec::new();
    // The ParentTree: a number tree, inline or indirect, flat (/Nums) or with /Kids.
    let key = {
        let next_key = root.get("ParentTreeNextKey").and_then(Obj::as_int);
        let (mut tree, tree_ref) = match root.get("ParentTree").cloned() {
            Some(Obj::Ref(n, g)) => (doc.dict_of(&Obj::Ref(n, g), "parent tree")?, Some((n, g))),
            Some(Obj::Dict(d)) => (d, None),
            None => (Dict::default(), None),
            Some(_) => return Ok(None),
        };
        let max_key = max_number_tree_key(doc, &tree, 0)?;
        let key = next_key.unwrap_or(0).max(max_key.map_or(0, |k| k + 1));
        let entry = [Obj::Int(key), Obj::Ref(form_elem, 0)];
        match (tree.get("Nums").cloned(), tree.get("Kids").cloned()) {
            (Some(Obj::Array(mut nums)), _) => {
                nums.extend(entry);
                tree.set("Nums", Obj::Array(nums));
            }
            (None, Some(Obj::Array(mut kids))) => {
                let mut node = Dict::default();
                node.set("Limits", Obj::Array(vec![Obj::Int(key), Obj::Int(key)]));
                node.set("Nums", Obj::Array(entry.to_vec()));
                parent_tree_changes.push((leaf, 0, Obj::Dict(node)));
                kids.push(Obj::Ref(leaf, 0));
                tree.set("Kids", Obj::Array(kids));
            }
            (None, None) => tree.set("Nums", Obj::Array(entry.to_vec())),
            _ => return Ok(None),
        }
        match tree_ref {
            Some((n, g)) => parent_tree_changes.push((n, g, Obj::Dict(tree))),
            None => root.set("ParentTree", Obj::Dict(tree)),
        }
        key
    };
    root.set("ParentTreeNextKey", Obj::Int(key + 1));

    let parent_ref = match parent {
        Some((n, g, mut elem)) => {
            append_kid(&mut elem, Obj::Ref(form_elem, 0));
            changed.push((n, g, Obj::Dict(elem)));
            (n, g)
        }
        None => {
            append_kid(&mut root, Obj::Ref(form_elem, 0));
            root_ref
        }
    };
    changed.push((root_ref.0, root_ref.1, Obj::Dict(root)));
    changed.extend(parent_tree_changes);

    let mut objr = Dict::default();
    objr.set("Type", Obj::name("OBJR"));
    objr.set("Obj", Obj::Ref(widget, 0));
    objr.set("Pg", Obj::Ref(page.0, page.1));
    let mut elem = Dict::default();
    elem.set("Type", Obj::name("StructElem"));
    elem.set("S", Obj::name("Form"));
    elem.set("P", Obj::Ref(parent_ref.0, parent_ref.1));
    elem.set("Pg", Obj::Ref(page.0, page.1));
    elem.set("Alt", text_string(description));
    elem.set("K", Obj::Dict(objr));
    changed.push((form_elem, 0, Obj::Dict(elem)));
    Ok(Some(key))
}

fn append_kid(elem: &mut Dict, kid: Obj) {
    let k = match elem.get("K").cloned() {
        None | Some(Obj::Null) => kid,
        Some(Obj::Array(mut a)) => {
            a.push(kid);
            Obj::Array(a)
        }
        Some(other) => Obj::Array(vec![other, kid]),
    };
    elem.set("K", k);
}

/// The largest key of a number tree.
fn max_number_tree_key(doc: &Doc, node: &Dict, depth: usize) -> Result<Option<i64>> {
    if depth > 32 {
        return Err(pdf_err("the parent tree is too deep"));
    }
    let mut max = None;
    if let Some(Obj::Array(nums)) = node.get("Nums") {
        max = nums.iter().step_by(2).filter_map(Obj::as_int).max();
    }
    if let Some(Obj::Array(kids)) = node.get("Kids") {
        for kid in kids.iter().take(100_000) {
            let d = doc.dict_of(kid, "parent tree node")?;
            let m = match d.get("Limits") {
                Some(Obj::Array(l)) if l.len() == 2 => l[1].as_int(),
                _ => max_number_tree_key(doc, &d, depth + 1)?,
            };
            max = max.max(m);
        }
    }
    Ok(max)
}
