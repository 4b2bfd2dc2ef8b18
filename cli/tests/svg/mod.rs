//! A minimal XML reader for checking the plots tt-cli writes: elements,
//! attributes in single or double quotes, text, the five named entities
//! and numeric ones, comments and the XML declaration. It refuses what is
//! not well-formed (a tag closed by another name, an unquoted attribute, a
//! bare `<` or `&` in text, more than one root), which is all a test needs
//! to know that a viewer will read the file.
#![allow(dead_code)]

/// One element.
#[derive(Debug, Default)]
pub struct Element {
    /// The tag name.
    pub name: String,
    /// Attributes in document order, values unescaped.
    pub attributes: Vec<(String, String)>,
    /// Child elements in order.
    pub children: Vec<Element>,
    /// The element's own text (not its children's), unescaped.
    pub text: String,
}

impl Element {
    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether the `class` attribute lists `class`.
    pub fn has_class(&self, class: &str) -> bool {
        self.attr("class")
            .is_some_and(|classes| classes.split_whitespace().any(|c| c == class))
    }

    /// Every element in the tree (this one first), depth first.
    pub fn all(&self) -> Vec<&Element> {
        let mut found = vec![self];
        for child in &self.children {
            found.extend(child.all());
        }
        found
    }

    /// Every element named `name` with class `class`.
    pub fn find(&self, name: &str, class: &str) -> Vec<&Element> {
        self.all()
            .into_iter()
            .filter(|element| element.name == name && element.has_class(class))
            .collect()
    }

    /// The text of this element and all its descendants.
    pub fn all_text(&self) -> String {
        let mut text = self.text.clone();
        for child in &self.children {
            text.push_str(&child.all_text());
        }
        text
    }
}

struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn error<T>(&self, what: &str) -> Result<T, String> {
        let line = self.text[..self.at].matches('\n').count() + 1;
        Err(format!("line {line}: {what}"))
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.at = self.text.len() - trimmed.len();
    }

    fn eat(&mut self, prefix: &str) -> bool {
        if self.rest().starts_with(prefix) {
            self.at += prefix.len();
            true
        } else {
            false
        }
    }

    fn until(&mut self, end: &str) -> Result<&'a str, String> {
        match self.rest().find(end) {
            Some(offset) => {
                let found = &self.rest()[..offset];
                self.at += offset + end.len();
                Ok(found)
            }
            None => self.error(&format!("`{end}` never comes")),
        }
    }

    fn name(&mut self) -> Result<String, String> {
        let rest = self.rest();
        let length = rest
            .find(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '_' | ':' | '.')))
            .unwrap_or(rest.len());
        if length == 0 {
            return self.error("a name is expected");
        }
        self.at += length;
        Ok(rest[..length].to_string())
    }

    /// Skips comments, processing instructions and white space.
    fn skip_misc(&mut self) -> Result<(), String> {
        loop {
            self.skip_space();
            if self.eat("<!--") {
                self.until("-->")?;
            } else if self.eat("<?") {
                self.until("?>")?;
            } else {
                return Ok(());
            }
        }
    }

    fn element(&mut self) -> Result<Element, String> {
        if !self.eat("<") {
            return self.error("an element is expected");
        }
        let mut element = Element {
            name: self.name()?,
            ..Element::default()
        };
        loop {
            self.skip_space();
            if self.eat("/>") {
                return Ok(element);
            }
            if self.eat(">") {
                break;
            }
            let key = self.name()?;
            self.skip_space();
            if !self.eat("=") {
                return self.error(&format!("attribute `{key}` has no value"));
            }
            self.skip_space();
            let quote = if self.eat("\"") {
                "\""
            } else if self.eat("'") {
                "'"
            } else {
                return self.error(&format!("attribute `{key}` is not quoted"));
            };
            let raw = self.until(quote)?;
            if raw.contains('<') {
                return self.error(&format!("attribute `{key}` holds a `<`"));
            }
            let value = unescape(raw).or_else(|why| self.error(&why))?;
            if element.attributes.iter().any(|(k, _)| *k == key) {
                return self.error(&format!("attribute `{key}` given twice"));
            }
            element.attributes.push((key, value));
        }
        loop {
            let rest = self.rest();
            let text_length = rest.find('<').unwrap_or(rest.len());
            let text = unescape(&rest[..text_length]).or_else(|why| self.error(&why))?;
            element.text.push_str(&text);
            self.at += text_length;
            if self.rest().is_empty() {
                return self.error(&format!("<{}> is never closed", element.name));
            }
            if self.eat("</") {
                let closing = self.name()?;
                self.skip_space();
                if !self.eat(">") {
                    return self.error("a closing tag is not ended by `>`");
                }
                if closing != element.name {
                    return self.error(&format!("<{}> is closed by </{closing}>", element.name));
                }
                return Ok(element);
            }
            if self.eat("<!--") {
                self.until("-->")?;
                continue;
            }
            element.children.push(self.element()?);
        }
    }
}

fn unescape(raw: &str) -> Result<String, String> {
    let mut text = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        text.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let Some(end) = after.find(';') else {
            return Err("a bare `&`".to_string());
        };
        let entity = &after[..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(decimal) = entity.strip_prefix('#') {
                    decimal.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("unknown entity `&{entity};`"))?
            }
        };
        text.push(c);
        rest = &after[end + 1..];
    }
    text.push_str(rest);
    Ok(text)
}

/// Parses `document`: prolog, one root element, nothing after it but
/// comments and white space.
pub fn parse(document: &str) -> Result<Element, String> {
    let mut reader = Reader {
        text: document,
        at: 0,
    };
    reader.skip_misc()?;
    let root = reader.element()?;
    reader.skip_misc()?;
    if !reader.rest().is_empty() {
        return reader.error("text after the root element");
    }
    Ok(root)
}

/// The vertices of a `points` attribute, `x,y x,y ...`.
pub fn vertices(points: &str) -> Vec<(f64, f64)> {
    points
        .split_whitespace()
        .map(|pair| {
            let (x, y) = pair.split_once(',').expect("x,y");
            (x.parse().expect("x"), y.parse().expect("y"))
        })
        .collect()
}

#[test]
fn well_formed_and_not() {
    let root = parse(
        "<?xml version=\"1.0\"?>\n<svg a='1' b=\"x &amp; y\"><g><t>&lt;hi&#33;</t></g><p/></svg>\n",
    )
    .expect("well formed");
    assert_eq!(root.name, "svg");
    assert_eq!(root.attr("b"), Some("x & y"));
    assert_eq!(root.children[0].children[0].text, "<hi!");
    for bad in [
        "<svg><g></svg>",
        "<svg a=1/>",
        "<svg>a & b</svg>",
        "<svg/><svg/>",
        "<svg>",
        "<svg a='1' a='2'/>",
    ] {
        assert!(parse(bad).is_err(), "{bad} was taken as well formed");
    }
}
