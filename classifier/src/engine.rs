//! The compiled scanner: finds identifier matches in a byte slice.
//!
//! [`Compiled`] is built once from the identifier table and the configuration. Its
//! [`Compiled::scan`] looks at one slice (a text chunk or a structured cell) and pushes a
//! [`Hit`] per confirmed match whose start lies in the slice's report range. Three cheap passes
//! find candidates, and only candidates pay for regexes, validators and keyword checks:
//! 1. an Aho-Corasick automaton over every anchor literal (credentials), whose hits run the
//!    identifier's regex in a small window;
//! 2. a word-at-a-time search for digit runs, where numeric layouts (shapes), dates, phone
//!    numbers and IBANs are tried, indexed by the length of the first digit run;
//! 3. `memchr` for `@` (e-mail addresses).
//!
//! Keywords are one case-insensitive automaton over every keyword variant (a space in a keyword
//! also matches `_`, `-` or nothing: `_` and `-` are read as spaces), run only over the few
//! bytes before a candidate.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::bytes::{Regex, RegexBuilder, RegexSet};

use crate::config::{ClassifierConfig, SelectionMode, SeverityLevel};
use crate::identifiers::{
    self, Category, KEYWORD_DISTANCE, KeywordRule, ManagedIdentifier, Matcher, SeverityRule,
};
use crate::validators as v;
use crate::{ClassifierError, Severity};

/// A reported detection type (name, category and severity rule).
#[derive(Debug, Clone)]
pub(crate) struct TypeInfo {
    pub(crate) name: String,
    pub(crate) category: &'static str,
    pub(crate) severity: TypeSeverity,
}

/// How a type's severity follows from its count.
#[derive(Debug, Clone)]
pub(crate) enum TypeSeverity {
    Managed(SeverityRule),
    Custom(Vec<SeverityLevel>),
}

impl TypeInfo {
    pub(crate) fn severity_at(&self, count: u64) -> Severity {
        match &self.severity {
            TypeSeverity::Managed(SeverityRule::High) => Severity::High,
            TypeSeverity::Managed(SeverityRule::ByCount) => match count {
                0 | 1 => Severity::Low,
                2..=99 => Severity::Medium,
                _ => Severity::High,
            },
            TypeSeverity::Custom(levels) => levels
                .iter()
                .filter(|l| count >= l.occurrences_threshold)
                .max_by_key(|l| l.occurrences_threshold)
                .map(|l| l.severity)
                .unwrap_or(Severity::Low),
        }
    }
}

/// A confirmed match: detection type and byte range in the scanned slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    pub(crate) ty: u32,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// The (rule, start) pairs already reported by one scan, hashed with one multiplication (the
/// default SipHash showed in profiles of dense text).
type Seen = HashSet<(u32, usize), std::hash::BuildHasherDefault<PairHasher>>;

/// A multiply-rotate hasher for the small integers of [`Seen`].
#[derive(Default)]
struct PairHasher(u64);

impl std::hash::Hasher for PairHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A compiled numeric layout.
#[derive(Debug, Clone)]
struct Shape {
    bytes: Vec<u8>,
    /// Characters before the first digit.
    lead: usize,
    needs_keyword: bool,
    /// The layout character after the first digit run (`None` when the run ends the shape):
    /// the byte after a digit run is tested against it before the whole shape is matched.
    after_run: Option<u8>,
    /// The length of the second digit run, when one separator follows the first and the
    /// second ends at a byte that cannot be a digit: the text's second run must be exactly
    /// as long (`ddd-dd-dddd` wants `2` after `123-`, not the `04` of `2015-04-12`).
    second_run: Option<usize>,
}

impl Shape {
    /// Whether `b`, the byte after a maximal digit run of the first run's length, may follow
    /// that run in this shape (`match_shape` decides the rest).
    #[inline]
    fn may_follow_run(&self, b: Option<u8>) -> bool {
        match (self.after_run, b) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(b'~'), Some(b)) => is_sep(b),
            (Some(b'L' | b'A'), Some(b)) => b.is_ascii_uppercase(),
            (Some(c), Some(b)) => b == c,
        }
    }
}

#[derive(Debug)]
enum RuleKind {
    Managed(&'static ManagedIdentifier),
    Custom {
        regex: Regex,
        ignore_words: Vec<Vec<u8>>,
        distance: usize,
        needs_keyword: bool,
    },
}

#[derive(Debug)]
struct Rule {
    kind: RuleKind,
    /// Type reported when a keyword is present (or not needed).
    ty: u32,
    /// Type reported without a keyword (`KeywordRule::Boosts`).
    ty_no_keyword: Option<u32>,
    /// A managed regex rule's pattern; its regexes below are compiled when first needed (most
    /// texts never reach most rules, and compiling every one took 0.35 s per engine).
    pattern: Option<&'static str>,
    regex: OnceLock<Regex>,
    /// `\A(?:pattern)`. For regexes whose match starts at most `ANCHORED_BACK` bytes before
    /// the anchor, it is tried at each such start and fails within a few bytes where the
    /// unanchored regex would scan its whole window; for the others it finds the capture
    /// group within a match.
    anchored: OnceLock<Regex>,
    /// The regex has a capture group (group 1 is the secret).
    groups: bool,
    right_boundary: bool,
    /// The regex's top-level alternatives, for choosing where its anchors are searched.
    alternatives: Vec<Alternative>,
}

/// One top-level alternative of a regex rule.
#[derive(Debug)]
struct Alternative {
    /// Literals every match starts with (`None`: unknown or too many).
    prefixes: Option<Vec<Vec<u8>>>,
    /// When every match is made of token characters only: the shortest match.
    token_min: Option<usize>,
}

impl Rule {
    /// The rule's regex (a managed regex rule's).
    fn regex(&self) -> &Regex {
        let pattern = self.pattern.expect("regex rules have a pattern");
        self.regex
            .get_or_init(|| compile_managed(self.ty_name(), pattern))
    }

    /// The rule's regex anchored at the start of the text.
    fn anchored(&self) -> &Regex {
        let pattern = self.pattern.expect("regex rules have a pattern");
        self.anchored
            .get_or_init(|| compile_managed(self.ty_name(), &format!(r"\A(?:{pattern})")))
    }

    fn ty_name(&self) -> &'static str {
        self.managed().map_or("custom identifier", |m| m.name)
    }

    fn managed(&self) -> Option<&'static ManagedIdentifier> {
        match self.kind {
            RuleKind::Managed(m) => Some(m),
            RuleKind::Custom { .. } => None,
        }
    }
}

/// A small set of rule indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RuleSet([u64; RULE_WORDS]);

/// Words in a [`RuleSet`]: rules (managed and custom) are at most `64 * RULE_WORDS`.
const RULE_WORDS: usize = 4;

impl RuleSet {
    fn insert(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    pub(crate) fn union(&mut self, other: &RuleSet) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }
}

/// Where keywords for a slice may come from besides the text before a match.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    /// Keywords found in the column name or JSON path.
    pub(crate) outer: Option<&'a RuleSet>,
    /// The slice is one cell or JSON value: a keyword anywhere in it counts.
    pub(crate) whole_cell: bool,
}

impl Context<'_> {
    pub(crate) const TEXT: Context<'static> = Context {
        outer: None,
        whole_cell: false,
    };
}

/// Allow lists, compiled.
#[derive(Debug, Default)]
struct Allow {
    texts: HashSet<Vec<u8>>,
    regexes: Option<RegexSet>,
}

/// A literal searcher over anchor windows and, per pattern, the (anchor, window offset) pairs
/// it stands for.
type WindowSearcher = (AnchorSearcher, Vec<Vec<(usize, usize)>>);

/// The compiled engine.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) types: Vec<TypeInfo>,
    rules: Vec<Rule>,
    /// Literal searchers over the lower-cased text for the anchors searched everywhere that
    /// neither an operator nor their length picks out. Their patterns are windows of up to
    /// `FOLD_WINDOW` bytes of the lower-cased anchors (see `fold_windows`), without those that
    /// another pattern starts (case variants and extensions of an anchor share one pattern), so
    /// fewer SIMD passes cover them all; per pattern, the anchors it stands for with the
    /// window's offset in them, each then checked in the original text.
    anchors: Vec<WindowSearcher>,
    /// Anchors holding an operator (`=` or `:`), found from the operators in the text: per
    /// operator (`=` 0, `:` 1) and byte before it, the anchors and the operator's index in
    /// them. Operators are rare in prose, and these anchors cost it nothing.
    op_anchors: Vec<Vec<(usize, usize)>>,
    /// Anchors with the operator first (`://`), checked at every operator.
    op_first_anchors: Vec<usize>,
    /// Anchors of key-value assignment rules only (`assword`, `api_key`): such a rule needs an
    /// operator after the key, so they are looked for in the key before each operator: per
    /// last byte, the anchors ending in it.
    key_anchors: Vec<Vec<usize>>,
    /// Lengths of the key suffixes that may follow a key anchor (`_key`, `s`, …).
    key_suffix_lens: Vec<usize>,
    /// Anchors shorter than `TEDDY_MASK` bytes, each searched on its own in the original
    /// text (a short pattern would weaken the fingerprint of every pattern in its group;
    /// `memmem` looks for a pair of the anchor's rarest bytes).
    short_anchors: Vec<(memchr::memmem::Finder<'static>, usize)>,
    /// Every anchor's text.
    anchor_texts: Vec<&'static str>,
    /// Anchors that only ever lead to a match inside a run of at least `token_run` token
    /// characters (vendor-token prefixes): searched only inside such runs, which ordinary
    /// prose hardly has, so adding vendor rules costs prose nothing.
    token_anchors: Vec<(AnchorSearcher, Vec<usize>)>,
    /// Shortest token run any of `token_anchors` can match in.
    token_run: usize,
    anchor_rules: Vec<Vec<u32>>,
    /// Per anchor, the other anchors that one is a prefix of, or that are a prefix of it: the
    /// literal searcher reports one match per position, so these are checked at its matches.
    anchor_ext: Vec<Vec<(usize, &'static str)>>,
    /// Types of generic (key-value assignment) rules, which yield to specific rules.
    generic_types: Vec<u32>,
    /// `(rule, shape)` pairs indexed by the length of the shape's first digit run.
    shapes_by_run: Vec<Vec<(u32, Shape)>>,
    /// Per first-run length `n` and byte after the run (`256`: none), the indexes into
    /// `shapes_by_run[n]` of the shapes that byte may follow (`Shape::may_follow_run`), at
    /// `n * 257 + byte`: a run tries only those.
    shapes_after: Vec<Vec<u16>>,
    date_rule: Option<u32>,
    phone_rule: Option<u32>,
    iban_rules: Option<(u32, u32)>,
    latlong_rule: Option<u32>,
    email_rule: Option<u32>,
    uk_licence_rule: Option<u32>,
    italy_cf_rule: Option<u32>,
    de_id_serial_rule: Option<u32>,
    /// Keyword automaton, walked a byte at a time (every occurrence of every keyword).
    keywords: Option<aho_corasick::dfa::DFA>,
    keyword_rules: Vec<RuleSet>,
    customs: Vec<u32>,
    allow: Allow,
    /// IBAN country code (`(c0 - b'A') * 26 + c1 - b'A'`) → type index, `u32::MAX` if none.
    iban_types: Vec<u32>,
}

fn shape_of(s: &str) -> Shape {
    let needs_keyword = s.starts_with('!');
    let s = s.trim_start_matches('!');
    let bytes = s.as_bytes().to_vec();
    let lead = bytes.iter().position(|&b| b == b'd').unwrap_or(0);
    let run = bytes[lead..].iter().take_while(|&&b| b == b'd').count();
    // A letter of either case after the run is left to `match_shape` (as no layout).
    let after_run = bytes.get(lead + run).copied().filter(|&c| c != b'l');
    let second = lead + run + 1;
    let second_len = bytes
        .get(second..)
        .map_or(0, |rest| rest.iter().take_while(|&&b| b == b'd').count());
    let second_run = (after_run.is_some_and(|c| !matches!(c, b'd' | b'A'))
        && second_len > 0
        && !matches!(
            bytes.get(second + second_len),
            Some(b'd' | b'A' | b'0'..=b'9')
        ))
    .then_some(second_len);
    Shape {
        bytes,
        lead,
        needs_keyword,
        after_run,
        second_run,
    }
}

fn first_run_len(shape: &Shape) -> usize {
    shape.bytes[shape.lead..]
        .iter()
        .take_while(|&&b| b == b'd')
        .count()
}

/// Expands a keyword into the spellings the keyword automaton holds: each space is a space
/// or nothing. A space in a keyword also matches `_` or `-`: the automaton is walked over the
/// text with those two read as spaces (`keyword_byte`), so their spellings need no patterns of
/// their own (four spellings per space made the automaton four times larger per space: 3,583
/// patterns, a 14.7 MB DFA and 48 ms to compile the engine; with two it is 835 patterns,
/// 3.0 MB and 15 ms). A `_` or `-` in the keyword itself is read as a space that must be
/// there (any of the three).
fn keyword_variants(k: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for ch in k.chars() {
        match ch {
            ' ' => {
                let mut next = Vec::with_capacity(out.len() * 2);
                for o in &out {
                    next.push(format!("{o} "));
                    next.push(o.clone());
                }
                out = next;
            }
            '_' | '-' => out.iter_mut().for_each(|o| o.push(' ')),
            _ => out.iter_mut().for_each(|o| o.push(ch)),
        }
    }
    out.sort();
    out.dedup();
    out
}

/// How many upper-case letters, at most `max`, come right before `pos`.
fn upper_before(buf: &[u8], pos: usize, max: usize) -> usize {
    buf[pos.saturating_sub(max)..pos]
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_uppercase())
        .count()
}

/// A text byte as the keyword automaton reads it: `_` and `-` are spaces.
#[inline(always)]
fn keyword_byte(b: u8) -> u8 {
    KEYWORD_BYTES[usize::from(b)]
}

/// `keyword_byte` as a table: one load per byte instead of two compares and a select.
static KEYWORD_BYTES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = match i as u8 {
            b'_' | b'-' => b' ',
            b => b,
        };
        i += 1;
    }
    table
};

/// Returns the index of the type `name`, adding it if new.
fn type_of(
    types: &mut Vec<TypeInfo>,
    name: &str,
    category: &'static str,
    severity: TypeSeverity,
) -> u32 {
    if let Some(i) = types.iter().position(|t| t.name == name) {
        return i as u32;
    }
    types.push(TypeInfo {
        name: name.to_string(),
        category,
        severity,
    });
    (types.len() - 1) as u32
}

fn compile_regex(name: &str, pattern: &str) -> Result<Regex, ClassifierError> {
    RegexBuilder::new(pattern)
        .size_limit(1 << 24)
        .dfa_size_limit(1 << 24)
        .build()
        .map_err(|e| ClassifierError::InvalidRegex {
            name: name.to_string(),
            message: e.to_string(),
        })
}

/// Compiles a managed identifier's regex, which `managed_regexes_compile` shows to compile.
fn compile_managed(name: &str, pattern: &str) -> Regex {
    compile_regex(name, pattern)
        .unwrap_or_else(|e| panic!("managed identifier {name}: its regex does not compile: {e}"))
}

impl Compiled {
    pub(crate) fn new(config: &ClassifierConfig) -> Result<Self, ClassifierError> {
        let table = identifiers::managed();
        let known: HashSet<&str> = table
            .iter()
            .flat_map(|m| {
                let mut names = vec![m.name];
                if let KeywordRule::Boosts(alt) = m.keyword_rule {
                    names.push(alt);
                }
                names
            })
            .collect();
        for name in &config.managed.identifiers {
            if !known.contains(name.as_str()) && !name.ends_with("_BANK_ACCOUNT_NUMBER") {
                return Err(ClassifierError::UnknownIdentifier { name: name.clone() });
            }
        }
        let listed = |name: &str| config.managed.identifiers.iter().any(|n| n == name);
        let selected = |m: &ManagedIdentifier| -> bool {
            match config.managed.selection {
                SelectionMode::Recommended => m.recommended,
                SelectionMode::All => true,
                SelectionMode::Include => m.recommended || listed(m.name),
                SelectionMode::Exclude => !listed(m.name),
                SelectionMode::None => false,
            }
        };
        if matches!(
            config.managed.selection,
            SelectionMode::Include | SelectionMode::Exclude
        ) && config.managed.identifiers.is_empty()
        {
            return Err(ClassifierError::InvalidConfig {
                message:
                    "managed.identifiers must list at least one identifier for INCLUDE or EXCLUDE"
                        .into(),
            });
        }

        let mut types: Vec<TypeInfo> = Vec::new();

        let mut rules: Vec<Rule> = Vec::new();
        let mut iban_types = vec![u32::MAX; 26 * 26];
        for m in table.iter().filter(|m| selected(m)) {
            let sev = TypeSeverity::Managed(m.severity);
            let ty = type_of(&mut types, m.name, m.category.as_str(), sev.clone());
            let ty_no_keyword = match m.keyword_rule {
                KeywordRule::Boosts(alt) => {
                    Some(type_of(&mut types, alt, m.category.as_str(), sev.clone()))
                }
                _ => None,
            };
            if matches!(m.matcher, Matcher::Iban) {
                for cc in IBAN_COUNTRIES {
                    let name = v::iban_country_identifier(cc.as_bytes());
                    let t = type_of(
                        &mut types,
                        name,
                        Category::Financial.as_str(),
                        TypeSeverity::Managed(SeverityRule::High),
                    );
                    iban_types[iban_slot(cc.as_bytes()).expect("upper-case code")] = t;
                }
            }
            let (pattern, right_boundary, groups) = match m.matcher {
                Matcher::Regex { pattern, .. } => {
                    // Parsed now, so a bad pattern stops the engine here; compiled when first
                    // needed (`managed_regexes_compile` compiles every one).
                    let hir = regex_syntax::parse(pattern).map_err(|e| {
                        ClassifierError::InvalidRegex {
                            name: m.name.to_string(),
                            message: e.to_string(),
                        }
                    })?;
                    (
                        Some(pattern),
                        !pattern.starts_with("-----") && !pattern.starts_with("PuTTY"),
                        hir.properties().explicit_captures_len() > 0,
                    )
                }
                _ => (None, false, false),
            };
            let alternatives = match m.matcher {
                Matcher::Regex { pattern, .. } => alternatives_of(pattern),
                _ => Vec::new(),
            };
            rules.push(Rule {
                kind: RuleKind::Managed(m),
                ty,
                ty_no_keyword,
                pattern,
                regex: OnceLock::new(),
                anchored: OnceLock::new(),
                groups,
                right_boundary,
                alternatives,
            });
        }

        let mut customs = Vec::new();
        for c in &config.custom_identifiers {
            if c.name.trim().is_empty() {
                return Err(ClassifierError::InvalidConfig {
                    message: "a custom identifier has an empty name".into(),
                });
            }
            if !(1..=300).contains(&c.maximum_match_distance) {
                return Err(ClassifierError::InvalidOption {
                    name: c.name.clone(),
                    option: "maximum_match_distance".into(),
                    message: format!(
                        "must be between 1 and 300, got {}",
                        c.maximum_match_distance
                    ),
                });
            }
            if c.regex.is_empty() {
                return Err(ClassifierError::InvalidRegex {
                    name: c.name.clone(),
                    message: "empty regex".into(),
                });
            }
            for level in &c.severity_levels {
                if level.occurrences_threshold == 0 {
                    return Err(ClassifierError::InvalidOption {
                        name: c.name.clone(),
                        option: "severity_levels".into(),
                        message: "occurrences_threshold must be at least 1".into(),
                    });
                }
            }
            let regex = compile_regex(&c.name, &c.regex)?;
            let levels = if c.severity_levels.is_empty() {
                vec![SeverityLevel {
                    occurrences_threshold: 1,
                    severity: Severity::Medium,
                }]
            } else {
                c.severity_levels.clone()
            };
            let ty = type_of(
                &mut types,
                &c.name,
                "CUSTOM_IDENTIFIER",
                TypeSeverity::Custom(levels),
            );
            customs.push(rules.len() as u32);
            rules.push(Rule {
                kind: RuleKind::Custom {
                    regex,
                    ignore_words: c
                        .ignore_words
                        .iter()
                        .map(|w| w.as_bytes().to_vec())
                        .collect(),
                    distance: c.maximum_match_distance,
                    needs_keyword: !c.keywords.is_empty(),
                },
                ty,
                ty_no_keyword: None,
                pattern: None,
                regex: OnceLock::new(),
                anchored: OnceLock::new(),
                groups: false,
                right_boundary: false,
                alternatives: Vec::new(),
            });
        }

        if rules.len() > 64 * RULE_WORDS {
            return Err(ClassifierError::InvalidConfig {
                message: format!(
                    "too many custom identifiers: at most {} are supported",
                    64 * RULE_WORDS - (rules.len() - customs.len())
                ),
            });
        }

        // Anchors.
        let mut anchor_strings: Vec<&'static str> = Vec::new();
        let mut anchor_rules: Vec<Vec<u32>> = Vec::new();
        let mut shapes_by_run: Vec<Vec<(u32, Shape)>> = vec![Vec::new(); 33];
        let (mut date_rule, mut phone_rule, mut iban_rules, mut latlong_rule, mut email_rule) =
            (None, None, None, None, None);
        let mut uk_licence_rule = None;
        let mut italy_cf_rule = None;
        let mut de_id_serial_rule = None;
        for (i, rule) in rules.iter().enumerate() {
            let Some(m) = rule.managed() else { continue };
            let i = i as u32;
            match m.matcher {
                Matcher::Regex { anchors, .. } => {
                    for a in anchors {
                        match anchor_strings.iter().position(|s| s == a) {
                            Some(p) => anchor_rules[p].push(i),
                            None => {
                                anchor_strings.push(a);
                                anchor_rules.push(vec![i]);
                            }
                        }
                    }
                }
                Matcher::Assignment { anchors, .. } => {
                    for a in anchors {
                        match anchor_strings.iter().position(|s| s == a) {
                            Some(p) => anchor_rules[p].push(i),
                            None => {
                                anchor_strings.push(a);
                                anchor_rules.push(vec![i]);
                            }
                        }
                    }
                }
                Matcher::AwsCredentials => {
                    for a in AWS_ANCHORS {
                        match anchor_strings.iter().position(|s| s == a) {
                            Some(p) => anchor_rules[p].push(i),
                            None => {
                                anchor_strings.push(a);
                                anchor_rules.push(vec![i]);
                            }
                        }
                    }
                }
                Matcher::Shapes(shapes) => {
                    for s in shapes {
                        let shape = shape_of(s);
                        let n = first_run_len(&shape).min(32);
                        shapes_by_run[n].push((i, shape));
                    }
                }
                Matcher::Date => date_rule = Some(i),
                Matcher::Phone => phone_rule = Some(i),
                Matcher::Iban => iban_rules = Some((i, rule.ty)),
                Matcher::LatLong => latlong_rule = Some(i),
                Matcher::Email => email_rule = Some(i),
                Matcher::UkDrivingLicence => uk_licence_rule = Some(i),
                Matcher::ItalyFiscalCode => italy_cf_rule = Some(i),
                Matcher::GermanyIdCardSerial => de_id_serial_rule = Some(i),
            }
        }
        let shapes_after: Vec<Vec<u16>> = (0..shapes_by_run.len() * 257)
            .map(|k| {
                let after = u8::try_from(k % 257).ok();
                shapes_by_run[k / 257]
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, shape))| shape.may_follow_run(after))
                    .map(|(x, _)| x as u16)
                    .collect()
            })
            .collect();
        // Anchors in length classes, for `group_anchors`.
        let mut order: Vec<usize> = (0..anchor_strings.len()).collect();
        order.sort_by_key(|&i| (anchor_strings[i].len().min(4), i));
        let generic_types: Vec<u32> = rules
            .iter()
            .filter(|r| {
                r.managed()
                    .is_some_and(|m| matches!(m.matcher, Matcher::Assignment { .. }))
            })
            .map(|r| r.ty)
            .collect();
        let mut anchor_ext: Vec<Vec<(usize, &'static str)>> =
            vec![Vec::new(); anchor_strings.len()];
        for (a, sa) in anchor_strings.iter().enumerate() {
            for (b, sb) in anchor_strings.iter().enumerate() {
                if a != b && (sa.starts_with(sb) || sb.starts_with(sa)) {
                    anchor_ext[a].push((b, sb));
                }
            }
        }
        // Vendor-token anchors are searched only inside long token runs (see `token_anchors`).
        // An anchor qualifies when every alternative it may trigger (one whose prefix holds
        // it, or one whose prefix holds no anchor of its rule) is made of token characters
        // only and at least MIN_TOKEN_RUN long: then every match it leads to lies in a run.
        let token_len = |a: usize| -> Option<usize> {
            let anchor = anchor_strings[a].as_bytes();
            if !anchor.iter().all(|&b| is_token_byte(b)) {
                return None;
            }
            let mut len = usize::MAX;
            for &r in &anchor_rules[a] {
                let rule = &rules[r as usize];
                let Some(Matcher::Regex { anchors, .. }) = rule.managed().map(|m| m.matcher) else {
                    return None;
                };
                if rule.alternatives.is_empty() {
                    return None;
                }
                let holds = |prefixes: &[Vec<u8>], x: &[u8]| {
                    prefixes.iter().any(|p| p.windows(x.len()).any(|w| w == x))
                };
                for alt in &rule.alternatives {
                    let triggers = match &alt.prefixes {
                        None => true,
                        Some(ps) => {
                            holds(ps, anchor)
                                || !anchors.iter().any(|other| holds(ps, other.as_bytes()))
                        }
                    };
                    if triggers {
                        len = len.min(alt.token_min.filter(|&l| l >= MIN_TOKEN_RUN)?);
                    }
                }
            }
            (len != usize::MAX).then_some(len)
        };
        let (token_order, order): (Vec<usize>, Vec<usize>) =
            order.into_iter().partition(|&a| token_len(a).is_some());
        let token_run = token_order
            .iter()
            .filter_map(|&a| token_len(a))
            .min()
            .unwrap_or(MIN_TOKEN_RUN);
        // The anchors searched everywhere, by how they are found.
        let is_op = |b: &u8| matches!(b, b'=' | b':');
        let assignment_only = |a: usize| {
            anchor_rules[a].iter().all(|&r| {
                matches!(
                    rules[r as usize].managed().map(|m| m.matcher),
                    Some(Matcher::Assignment { .. })
                )
            })
        };
        let mut op_anchors: Vec<Vec<(usize, usize)>> = vec![Vec::new(); 2 * 256];
        let mut op_first_anchors = Vec::new();
        let mut key_anchors: Vec<Vec<usize>> = vec![Vec::new(); 256];
        let mut key_suffix_lens: Vec<usize> = Vec::new();
        let mut short_anchors = Vec::new();
        let mut folded_anchors = Vec::new();
        for &a in &order {
            let text = anchor_strings[a].as_bytes();
            if let Some(k) = text.iter().position(is_op) {
                if k == 0 {
                    op_first_anchors.push(a);
                } else {
                    let op = usize::from(text[k] == b':');
                    op_anchors[op * 256 + usize::from(text[k - 1])].push((a, k));
                }
            } else if assignment_only(a) {
                key_anchors[usize::from(text[text.len() - 1])].push(a);
                for &r in &anchor_rules[a] {
                    if let Some(Matcher::Assignment { suffixes, .. }) =
                        rules[r as usize].managed().map(|m| m.matcher)
                    {
                        key_suffix_lens.extend(suffixes.iter().map(|s| s.len()));
                    }
                }
            } else if text.len() < TEDDY_MASK {
                short_anchors.push((memchr::memmem::Finder::new(text), a));
            } else {
                folded_anchors.push(a);
            }
        }
        key_suffix_lens.sort_unstable();
        key_suffix_lens.dedup();
        let windows = fold_windows(&anchor_strings, &folded_anchors);
        let mut folded: Vec<String> = windows.iter().map(|(w, _)| w.clone()).collect();
        folded.sort_by_key(|f| (f.len().min(4), f.clone()));
        folded.dedup();
        let kept: Vec<&str> = folded
            .iter()
            .filter(|f| !folded.iter().any(|g| g != *f && f.starts_with(g.as_str())))
            .map(String::as_str)
            .collect();
        let anchors: Vec<WindowSearcher> =
            group_anchors(&kept, &(0..kept.len()).collect::<Vec<_>>(), false)
                .into_iter()
                .map(|(searcher, ids)| {
                    let members = ids
                        .iter()
                        .map(|&k| {
                            folded_anchors
                                .iter()
                                .zip(&windows)
                                .filter(|(_, (w, _))| w.starts_with(kept[k]))
                                .map(|(&a, &(_, off))| (a, off))
                                .collect()
                        })
                        .collect();
                    (searcher, members)
                })
                .collect();
        let token_anchors = group_anchors(&anchor_strings, &token_order, true);

        // Keywords.
        let mut kw_strings: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<RuleSet> = Vec::new();
        let mut add_kw = |k: &str, rule: usize| {
            for variant in keyword_variants(&k.to_lowercase()) {
                if variant.is_empty() {
                    continue;
                }
                match kw_strings.iter().position(|s| *s == variant) {
                    Some(p) => keyword_rules[p].insert(rule),
                    None => {
                        kw_strings.push(variant);
                        let mut set = RuleSet::default();
                        set.insert(rule);
                        keyword_rules.push(set);
                    }
                }
            }
        };
        for (i, rule) in rules.iter().enumerate() {
            if let Some(m) = rule.managed() {
                for k in m.keywords {
                    add_kw(k, i);
                }
            }
        }
        for (c, &ri) in config.custom_identifiers.iter().zip(&customs) {
            for k in &c.keywords {
                if k.trim().is_empty() {
                    return Err(ClassifierError::InvalidOption {
                        name: c.name.clone(),
                        option: "keywords".into(),
                        message: "a keyword is empty".into(),
                    });
                }
                add_kw(k, ri as usize);
            }
        }
        let keywords = if kw_strings.is_empty() {
            None
        } else {
            Some(
                aho_corasick::dfa::DFA::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .prefilter(false)
                    .build(&kw_strings)
                    .expect("keywords should compile"),
            )
        };

        // Allow lists.
        let mut allow = Allow::default();
        let mut allow_regexes = Vec::new();
        for list in &config.allow_lists {
            for t in &list.texts {
                allow.texts.insert(t.trim().to_lowercase().into_bytes());
            }
            if let Some(r) = &list.regex {
                compile_regex(&format!("allow list {}", list.name), r)?;
                allow_regexes.push(r.clone());
            }
        }
        if !allow_regexes.is_empty() {
            allow.regexes =
                Some(
                    RegexSet::new(&allow_regexes).map_err(|e| ClassifierError::InvalidRegex {
                        name: "allow lists".into(),
                        message: e.to_string(),
                    })?,
                );
        }

        Ok(Self {
            types,
            rules,
            anchors,
            op_anchors,
            op_first_anchors,
            key_anchors,
            key_suffix_lens,
            short_anchors,
            anchor_texts: anchor_strings.clone(),
            token_anchors,
            token_run,
            anchor_rules,
            anchor_ext,
            generic_types,
            shapes_by_run,
            shapes_after,
            date_rule,
            phone_rule,
            iban_rules,
            latlong_rule,
            email_rule,
            uk_licence_rule,
            italy_cf_rule,
            de_id_serial_rule,
            keywords,
            keyword_rules,
            customs,
            allow,
            iban_types,
        })
    }

    /// Returns the rules whose keywords occur in `text` (a column name or JSON key).
    pub(crate) fn keywords_in(&self, text: &[u8]) -> RuleSet {
        self.keywords_ending_after(text, 0)
    }

    /// Returns the rules with a keyword in `text` that ends at or after `min_end`.
    fn keywords_ending_after(&self, text: &[u8], min_end: usize) -> RuleSet {
        let mut set = RuleSet::default();
        self.each_keyword(text, |s, e, k| {
            if e >= min_end && keyword_boundary(text, s, e) {
                set.union(&self.keyword_rules[k]);
            }
            false
        });
        set
    }

    /// Calls `f(start, end, keyword)` for every occurrence of a keyword in `text` (overlapping
    /// ones too), by ends, until it returns true; returns whether it did. The automaton is
    /// walked directly: an overlapping iterator's set-up per call and per match cost as much
    /// as the short windows searched.
    #[inline]
    fn each_keyword(&self, text: &[u8], mut f: impl FnMut(usize, usize, usize) -> bool) -> bool {
        use aho_corasick::Anchored;
        use aho_corasick::automaton::Automaton;
        let Some(dfa) = &self.keywords else {
            return false;
        };
        let Ok(mut sid) = dfa.start_state(Anchored::No) else {
            return false;
        };
        for (i, &b) in text.iter().enumerate() {
            sid = dfa.next_state(Anchored::No, sid, keyword_byte(b));
            if dfa.is_special(sid) && dfa.is_match(sid) {
                for k in 0..dfa.match_len(sid) {
                    let pid = dfa.match_pattern(sid, k);
                    let e = i + 1;
                    if f(e - dfa.pattern_len(pid), e, pid.as_usize()) {
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Returns whether a keyword of `rule` occurs in `text`.
    fn keyword_for(&self, rule: usize, text: &[u8], min_end: usize) -> bool {
        self.each_keyword(text, |s, e, k| {
            e >= min_end && self.keyword_rules[k].contains(rule) && keyword_boundary(text, s, e)
        })
    }

    /// Returns whether rule `rule` has a keyword for a match at `start..end` of `buf`.
    fn has_keyword(
        &self,
        rule: usize,
        buf: &[u8],
        start: usize,
        end: usize,
        ctx: &Context<'_>,
        distance: usize,
    ) -> bool {
        if ctx.outer.is_some_and(|o| o.contains(rule)) {
            return true;
        }
        if ctx.whole_cell && label_cell(buf, start, end) {
            return self.keyword_for(rule, &buf[..start], 0)
                || self.keyword_for(rule, &buf[end..], 0);
        }
        // The keyword must end within `distance` characters before the match.
        let (from, min_end) = keyword_window(buf, start, distance);
        self.keyword_for(rule, &buf[from..start], min_end)
    }

    fn allowed(&self, text: &[u8]) -> bool {
        if !self.allow.texts.is_empty() {
            let t = text.trim_ascii().to_ascii_lowercase();
            if self.allow.texts.contains(&t) {
                return true;
            }
        }
        self.allow
            .regexes
            .as_ref()
            .is_some_and(|set| set.is_match(text))
    }

    /// Scans `buf`, pushing every confirmed match that starts inside `report` to `hits`.
    pub(crate) fn scan(
        &self,
        buf: &[u8],
        report: Range<usize>,
        ctx: &Context<'_>,
        hits: &mut Vec<Hit>,
    ) {
        let first = hits.len();
        self.scan_anchors(buf, &report, ctx, hits);
        self.scan_digits(buf, &report, ctx, hits);
        if let Some(rule) = self.email_rule {
            self.scan_emails(rule, buf, &report, hits);
        }
        for &ri in &self.customs {
            self.scan_custom(ri as usize, buf, &report, ctx, hits);
        }
        if !self.allow.texts.is_empty() || self.allow.regexes.is_some() {
            let mut i = first;
            while i < hits.len() {
                let h = hits[i];
                if self.allowed(&buf[h.start..h.end]) {
                    hits.swap_remove(i);
                } else {
                    i += 1;
                }
            }
        }
    }

    fn scan_anchors(
        &self,
        buf: &[u8],
        report: &Range<usize>,
        _ctx: &Context<'_>,
        hits: &mut Vec<Hit>,
    ) {
        let first = hits.len();
        let mut seen = Seen::default();
        let mut aws: Vec<(u32, usize)> = Vec::new();
        // The lower-cased copy is made a block at a time (memory stays small whatever the
        // text); blocks overlap by a window's length so no match is cut.
        LOWER.with_borrow_mut(|lower| {
            let mut block = 0;
            while block < buf.len() {
                let end = (block + LOWER_BLOCK + FOLD_WINDOW - 1).min(buf.len());
                lower.clear();
                lower.extend(buf[block..end].iter().map(u8::to_ascii_lowercase));
                for (searcher, members) in &self.anchors {
                    searcher.for_each(lower, |at, _, pattern| {
                        if at >= LOWER_BLOCK {
                            return;
                        }
                        for &(a, off) in &members[pattern] {
                            let Some(p) = (block + at).checked_sub(off) else {
                                continue;
                            };
                            let text = self.anchor_texts[a].as_bytes();
                            if near_report(p, report) && has_at(buf, p, text) {
                                self.anchor_rules_at(
                                    buf,
                                    p,
                                    text.len(),
                                    a,
                                    report,
                                    &mut seen,
                                    &mut aws,
                                    hits,
                                );
                            }
                        }
                    });
                }
                block += LOWER_BLOCK;
            }
        });
        for (finder, a) in &self.short_anchors {
            let text = self.anchor_texts[*a].as_bytes();
            for p in finder.find_iter(buf) {
                if near_report(p, report) {
                    self.anchor_rules_at(buf, p, text.len(), *a, report, &mut seen, &mut aws, hits);
                }
            }
        }
        self.scan_operators(buf, report, &mut seen, &mut aws, hits);
        if !self.token_anchors.is_empty() {
            let mut search = |s: usize, e: usize| {
                for (searcher, ids) in &self.token_anchors {
                    searcher.for_each(&buf[s..e], |start, len, pattern| {
                        self.anchor_hit(
                            buf,
                            s + start,
                            len,
                            ids[pattern],
                            report,
                            &mut seen,
                            &mut aws,
                            hits,
                        );
                    });
                }
            };
            for_each_token_range(buf, self.token_run, RUN_GAP, &mut search);
        }
        if !aws.is_empty() {
            self.aws_regions(&mut aws, buf, report, hits);
        }
        // A value that a specific rule recognises is reported by that rule only.
        if self.generic_types.is_empty() || hits.len() == first {
            return;
        }
        let generic = |ty: u32| self.generic_types.contains(&ty);
        if !hits[first..].iter().any(|h| generic(h.ty)) {
            return;
        }
        let mut i = first;
        while i < hits.len() {
            let h = hits[i];
            if generic(h.ty)
                && hits[first..]
                    .iter()
                    .any(|o| !generic(o.ty) && o.start < h.end && h.start < o.end)
            {
                hits.swap_remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// Runs the rules of the anchors found from an operator (`=` or `:`) in `buf`: those that
    /// hold it, and the keys of assignments that end before it.
    fn scan_operators(
        &self,
        buf: &[u8],
        report: &Range<usize>,
        seen: &mut Seen,
        aws: &mut Vec<(u32, usize)>,
        hits: &mut Vec<Hit>,
    ) {
        // Every operator of an anchor that `near_report` admits (an operator is at most 64
        // bytes into its anchor).
        let lo = report.start.saturating_sub(4096);
        let hi = (report.end + 1024 + 64).min(buf.len());
        for o in memchr::memchr3_iter(b'=', b':', b'>', &buf[lo..hi]) {
            let o = lo + o;
            if buf[o] == b'>' {
                // The end of an XML start tag: its name is an assignment's key.
                self.keys_before(buf, o, report, seen, aws, hits);
                continue;
            }
            for &a in &self.op_first_anchors {
                let text = self.anchor_texts[a].as_bytes();
                if near_report(o, report) && has_at(buf, o, text) {
                    self.anchor_rules_at(buf, o, text.len(), a, report, seen, aws, hits);
                }
            }
            if o == 0 {
                continue;
            }
            let op = usize::from(buf[o] == b':');
            for &(a, k) in &self.op_anchors[op * 256 + usize::from(buf[o - 1])] {
                let text = self.anchor_texts[a].as_bytes();
                if let Some(p) = o.checked_sub(k)
                    && near_report(p, report)
                    && has_at(buf, p, text)
                {
                    self.anchor_rules_at(buf, p, text.len(), a, report, seen, aws, hits);
                }
            }
            // The key before the operator: spaces, then an optional closing quote, then the
            // key's last character (as `assignment_at` reads them forwards).
            let mut i = o;
            while i > 0 && matches!(buf[i - 1], b' ' | b'\t') {
                i -= 1;
            }
            if i > 0 && matches!(buf[i - 1], b'"' | b'\'' | b'`') {
                i -= 1;
            }
            self.keys_before(buf, i, report, seen, aws, hits);
        }
    }

    /// Runs the assignment rules whose key (anchor and suffix) ends at `i`.
    fn keys_before(
        &self,
        buf: &[u8],
        i: usize,
        report: &Range<usize>,
        seen: &mut Seen,
        aws: &mut Vec<(u32, usize)>,
        hits: &mut Vec<Hit>,
    ) {
        if i == 0 || !is_key_byte(buf[i - 1]) {
            return;
        }
        for &suffix in &self.key_suffix_lens {
            let Some(e) = i.checked_sub(suffix).filter(|&e| e > 0) else {
                break;
            };
            for &a in &self.key_anchors[usize::from(buf[e - 1])] {
                let text = self.anchor_texts[a].as_bytes();
                if let Some(p) = e.checked_sub(text.len())
                    && near_report(p, report)
                    && has_at(buf, p, text)
                {
                    self.anchor_rules_at(buf, p, text.len(), a, report, seen, aws, hits);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn anchor_hit(
        &self,
        buf: &[u8],
        p: usize,
        anchor_len: usize,
        anchor: usize,
        report: &Range<usize>,
        seen: &mut Seen,
        aws: &mut Vec<(u32, usize)>,
        hits: &mut Vec<Hit>,
    ) {
        {
            if !near_report(p, report) {
                return;
            }
            for &(b, text) in &self.anchor_ext[anchor] {
                if has_at(buf, p, text.as_bytes()) {
                    self.anchor_rules_at(buf, p, text.len(), b, report, seen, aws, hits);
                }
            }
            self.anchor_rules_at(buf, p, anchor_len, anchor, report, seen, aws, hits);
        }
    }

    /// Runs the rules of `anchor`, found at `p`.
    #[allow(clippy::too_many_arguments)]
    fn anchor_rules_at(
        &self,
        buf: &[u8],
        p: usize,
        anchor_len: usize,
        anchor: usize,
        report: &Range<usize>,
        seen: &mut Seen,
        aws: &mut Vec<(u32, usize)>,
        hits: &mut Vec<Hit>,
    ) {
        {
            for &ri in &self.anchor_rules[anchor] {
                let rule = &self.rules[ri as usize];
                let Some(ident) = rule.managed() else {
                    continue;
                };
                match ident.matcher {
                    Matcher::AwsCredentials => aws.push((ri, p)),
                    Matcher::Assignment {
                        suffixes, strict, ..
                    } => {
                        if let Some((s, e)) = assignment_at(buf, p, anchor_len, suffixes)
                            && report.contains(&s)
                            && v::secret_value(&buf[s..e], strict)
                            && ident
                                .validator
                                .is_none_or(|valid| valid(&buf[s..e], &buf[s..e]))
                            && seen.insert((ri, s))
                        {
                            hits.push(Hit {
                                ty: rule.ty,
                                start: s,
                                end: e,
                            });
                        }
                    }
                    Matcher::Regex { back, fwd, .. } => {
                        let hi = (p + anchor_len + fwd).min(buf.len());
                        let are = rule.anchored();
                        if back <= ANCHORED_BACK {
                            for s in p.saturating_sub(back)..=p {
                                // `accept` refuses a start glued to a letter or digit, outside
                                // the report or already taken, whatever the regex finds there.
                                if s > 0 && buf[s - 1].is_ascii_alphanumeric()
                                    || !report.contains(&s)
                                    || seen.contains(&(ri, s))
                                {
                                    continue;
                                }
                                let found = if rule.groups {
                                    are.captures(&buf[s..hi]).map(|c| {
                                        let w = c.get(0).expect("group 0 always matches");
                                        let g = c
                                            .get(1)
                                            .map_or((w.start(), w.end()), |g| (g.start(), g.end()));
                                        (s + w.end(), s + g.0, s + g.1)
                                    })
                                } else {
                                    are.find(&buf[s..hi]).map(|w| (s + w.end(), s, s + w.end()))
                                };
                                if let Some((e, vs, ve)) = found
                                    && e > p
                                    && self.accept(
                                        ri,
                                        rule,
                                        ident,
                                        buf,
                                        s,
                                        e,
                                        (vs, ve),
                                        report,
                                        seen,
                                        hits,
                                    )
                                {
                                    break;
                                }
                            }
                            continue;
                        }
                        let re = rule.regex();
                        let lo = p.saturating_sub(back);
                        for m in re.find_iter(&buf[lo..hi]) {
                            let (s, e) = (lo + m.start(), lo + m.end());
                            if e <= p {
                                continue;
                            }
                            if s > p {
                                break;
                            }
                            // The secret: group 1, found by the anchored regex in the match only.
                            let (vs, ve) = if rule.groups {
                                are.captures(&buf[s..e])
                                    .and_then(|c| c.get(1))
                                    .map_or((s, e), |g| (s + g.start(), s + g.end()))
                            } else {
                                (s, e)
                            };
                            if self.accept(ri, rule, ident, buf, s, e, (vs, ve), report, seen, hits)
                            {
                                break;
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// Checks a regex match `s..e` (secret `v`) of rule `ri` and records it; returns whether
    /// it was recorded.
    #[allow(clippy::too_many_arguments)]
    fn accept(
        &self,
        ri: u32,
        rule: &Rule,
        ident: &ManagedIdentifier,
        buf: &[u8],
        s: usize,
        e: usize,
        (vs, ve): (usize, usize),
        report: &Range<usize>,
        seen: &mut Seen,
        hits: &mut Vec<Hit>,
    ) -> bool {
        if !report.contains(&s) || seen.contains(&(ri, s)) {
            return false;
        }
        if s > 0 && buf[s - 1].is_ascii_alphanumeric() {
            return false;
        }
        if rule.right_boundary && e < buf.len() && buf[e].is_ascii_alphanumeric() {
            return false;
        }
        if let Some(valid) = ident.validator
            && !valid(&buf[s..e], &buf[vs..ve])
        {
            return false;
        }
        seen.insert((ri, s));
        hits.push(Hit {
            ty: rule.ty,
            start: vs,
            end: ve,
        });
        true
    }

    /// AWS: every 40-character secret access key near an access key ID or a secret-key keyword,
    /// looked for around each AWS anchor in `anchors` (rule, position). Overlapping regions
    /// are merged so that each byte is scanned once, and key IDs are located once per region.
    fn aws_regions(
        &self,
        anchors: &mut [(u32, usize)],
        buf: &[u8],
        report: &Range<usize>,
        hits: &mut Vec<Hit>,
    ) {
        const REACH: usize = 600;
        anchors.sort_unstable();
        let mut ids: Vec<usize> = Vec::new();
        let mut k = 0;
        while k < anchors.len() {
            let ri = anchors[k].0;
            let lo = anchors[k].1.saturating_sub(REACH);
            let mut hi = (anchors[k].1 + REACH).min(buf.len());
            k += 1;
            while k < anchors.len()
                && anchors[k].0 == ri
                && anchors[k].1.saturating_sub(REACH) <= hi
            {
                hi = (anchors[k].1 + REACH).min(buf.len());
                k += 1;
            }
            // Key IDs that a secret in lo..hi may pair with.
            ids.clear();
            key_ids(
                buf,
                lo.saturating_sub(REACH + 40),
                (hi + REACH + 40).min(buf.len()),
                &mut ids,
            );
            self.aws_in(ri, buf, lo, hi, &ids, report, hits);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn aws_in(
        &self,
        ri: u32,
        buf: &[u8],
        lo: usize,
        hi: usize,
        ids: &[usize],
        report: &Range<usize>,
        hits: &mut Vec<Hit>,
    ) {
        const REACH: usize = 600;
        let is_b64 = |b: u8| b.is_ascii_alphanumeric() || b == b'/' || b == b'+';
        let in_token = |b: u8| is_b64(b) || b == b'-' || b == b'_' || b == b'.';
        // A key ID starting in from..to (and ending before `to + 20`).
        let id_in = |from: usize, to: usize| {
            let i = ids.partition_point(|&x| x < from);
            i < ids.len() && ids[i] + 20 <= to
        };
        let mut i = lo;
        while i < hi {
            if !is_b64(buf[i]) {
                i += 1;
                continue;
            }
            let s = i;
            i = run_end(buf, i, buf.len(), aws_token_mask, in_token);
            let mut e = i;
            while e > s && buf[e - 1] == b'.' {
                e -= 1;
            }
            if e - s != 40 || (e < buf.len() && buf[e] == b'=') || (s > 0 && in_token(buf[s - 1])) {
                continue;
            }
            let secret = &buf[s..e];
            if !secret.iter().all(|&b| is_b64(b)) || !report.contains(&s) {
                continue;
            }
            let hex = secret.iter().all(|b| b.is_ascii_hexdigit());
            if hex
                || !secret.iter().any(u8::is_ascii_digit)
                    && !secret.iter().any(|&b| b == b'/' || b == b'+')
            {
                continue;
            }
            let has_lower = secret.iter().any(u8::is_ascii_lowercase);
            let has_upper = secret.iter().any(u8::is_ascii_uppercase);
            if !has_lower || !has_upper {
                continue;
            }
            // A key ID near the secret (close by, or with a key word before the secret), or a
            // secret-key label right before it.
            let before = &buf[s.saturating_sub(64)..s];
            let has = |w: &[u8]| before.windows(w.len()).any(|x| x.eq_ignore_ascii_case(w));
            let close = id_in(s.saturating_sub(160), (e + 160).min(buf.len()));
            let paired = close
                || (id_in(s.saturating_sub(REACH), (e + REACH).min(buf.len()))
                    && (has(b"secret") || has(b"key") || has(b"aws")));
            let labelled = !paired && has(b"secret") && (has(b"aws") || has(b"access"));
            if !(paired || labelled) || !v::looks_random(secret) {
                continue;
            }
            if secret
                .windows(7)
                .any(|x| x.eq_ignore_ascii_case(b"EXAMPLE"))
            {
                continue;
            }
            hits.push(Hit {
                ty: self.rules[ri as usize].ty,
                start: s,
                end: e,
            });
        }
    }

    fn scan_digits(
        &self,
        buf: &[u8],
        report: &Range<usize>,
        ctx: &Context<'_>,
        hits: &mut Vec<Hit>,
    ) {
        let any_digit_rule = self.shapes_by_run.iter().any(|v| !v.is_empty())
            || self.date_rule.is_some()
            || self.phone_rule.is_some()
            || self.iban_rules.is_some()
            || self.latlong_rule.is_some()
            || self.uk_licence_rule.is_some()
            || self.italy_cf_rule.is_some()
            || self.de_id_serial_rule.is_some();
        if !any_digit_rule {
            return;
        }
        let end = report.end.min(buf.len());
        let mut i = report.start;
        let mut skip_until = 0usize;
        while let Some(pos) = next_digit(buf, i, end) {
            let j = digit_run_end(buf, pos);
            // The bytes around the run are told by one table each, and the tests combined
            // without branches: in base64 every one of them goes either way.
            let class = |k: usize| BYTE_CLASS[usize::from(buf[k])];
            let before = |d: usize| if pos >= d { class(pos - d) } else { 0 };
            let (b1, b2, b3) = (before(1), before(2), before(3));
            let not_word = |c: u8| c & ALNUM == 0;
            let upper = |c: u8| c & UPPER != 0;
            // Every numeric identifier starts a word (nothing alphanumeric before it), and at
            // most two upper-case letters (a shape's or an IBAN's lead) come before its first
            // digit run. So only a word's first run can start a match: once it is tried, the
            // rest of the word (base64, hex, identifiers) is skipped.
            let lead_ok = not_word(b1) | (upper(b1) & (not_word(b2) | (upper(b2) & not_word(b3))));
            // No numeric identifier is glued to a lower-case letter (base64, hex, words), but
            // for two exceptions told only for a run that may start one (`suffix_ok` below).
            let glued = j < buf.len() && class(j) & LOWER_CASE != 0;
            // A run that goes on from a number past `-`, `.` or `/` (`2015-04-12`, `10.0.0.1`,
            // `07:00:55.205836`) starts no identifier: every matcher refuses such a start
            // (shapes and phones by their left boundary, dates and coordinates as glued, an
            // IBAN for want of its letters), so they are not asked.
            let continues = (b1 & NUMBER_SEP != 0) & (b2 & DIGIT != 0);
            if lead_ok & !continues
                && (!glued || suffix_ok(buf, pos, j))
                && pos >= skip_until
                && let Some(h) = self.best_at(buf, pos, j - pos, ctx)
            {
                skip_until = h.end;
                hits.push(h);
            } else if upper(b1)
                && pos >= skip_until
                && let after = if j < buf.len() { class(j) } else { 0 }
                && let uk_or_it =
                    upper(after) & ((j - pos >= 6) | (upper(b2) & upper(b3) & (j - pos <= 2)))
                // A German card serial: letters on both sides of the first run, or two or
                // more letters before a run that ends the word (one is a shape).
                && let de = self.de_id_serial_rule.is_some()
                    & (j - pos <= 8)
                    & (upper(after) | (upper(b2) & not_word(after)))
                && (uk_or_it | de)
                && let Some(h) =
                    self.letters_around_run_at(buf, pos, j, upper(b2) & upper(b3), de, ctx)
            {
                skip_until = h.end;
                hits.push(h);
            } else if b1 & LOWER_CASE != 0
                && j - pos <= 2
                && let Some(ri) = self.italy_cf_rule
                // A codice fiscale typed in lower case: a 16-character word, its year digits
                // after its first six letters, the month letter after them.
                && pos >= 6
                && not_word(before(7))
                && j < buf.len()
                && class(j) & LOWER_CASE != 0
                && pos >= skip_until
                && buf[pos - 6..pos].iter().all(u8::is_ascii_lowercase)
                && let Some(h) = self.word_at(ri, buf, pos - 6, 16, v::italy_codice_fiscale, ctx)
            {
                skip_until = h.end;
                hits.push(h);
            }
            i = skip_word(buf, j, end);
        }
    }

    /// An identifier of letters and digits whose first digit run `pos..j` has upper-case
    /// letters on both sides (more than `lead_ok` lets through): a UK driving licence (up to
    /// five surname letters before its date digits, an initial after them) or an Italian
    /// codice fiscale (six letters before its year digits, the month letter after them;
    /// `three_before`: the three bytes before the run are upper case), or a German identity
    /// card number with letters inside its serial (`de`: the run may start one).
    #[cold]
    fn letters_around_run_at(
        &self,
        buf: &[u8],
        pos: usize,
        j: usize,
        three_before: bool,
        de: bool,
        ctx: &Context<'_>,
    ) -> Option<Hit> {
        if j - pos >= 6
            && let Some(ri) = self.uk_licence_rule
        {
            // The surname's letters before `pos`; the 9s padding a short one are in the run.
            let letters = upper_before(buf, pos, 5);
            if let Some(h) = self.word_at(ri, buf, pos - letters, 16, v::uk_driving_licence, ctx) {
                return Some(h);
            }
        }
        if three_before
            && j - pos <= 2
            && let Some(ri) = self.italy_cf_rule
            && let Some(start) = pos.checked_sub(6)
            && buf[start..pos].iter().all(u8::is_ascii_uppercase)
            && let Some(h) = self.word_at(ri, buf, start, 16, v::italy_codice_fiscale, ctx)
        {
            return Some(h);
        }
        if de && let Some(ri) = self.de_id_serial_rule {
            // The serial's letters before the run (more than nine glue the word to its left).
            let letters = upper_before(buf, pos, 10);
            if letters <= 9 && letters + (j - pos) <= 10 {
                return self.word_at(ri, buf, pos - letters, 10, v::germany_id_card_printed, ctx);
            }
        }
        None
    }

    /// A match of rule `ri` on the whole word `buf[start..start + len]` (nothing alphanumeric
    /// or `_` on either side) that `valid` accepts, with a keyword where the rule needs one.
    fn word_at(
        &self,
        ri: u32,
        buf: &[u8],
        start: usize,
        len: usize,
        valid: fn(&[u8]) -> bool,
        ctx: &Context<'_>,
    ) -> Option<Hit> {
        let end = start + len;
        let glued = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        if start > 0 && glued(buf[start - 1])
            || end > buf.len()
            || buf.get(end).is_some_and(|&b| glued(b))
            || !valid(&buf[start..end])
        {
            return None;
        }
        let rule = &self.rules[ri as usize];
        let needed = rule
            .managed()
            .is_some_and(|m| m.keyword_rule == KeywordRule::Required);
        if needed && !self.has_keyword(ri as usize, buf, start, end, ctx, KEYWORD_DISTANCE) {
            return None;
        }
        Some(Hit {
            ty: rule.ty,
            start,
            end,
        })
    }

    /// Tries every numeric identifier at the digit run `buf[pos..pos + n]` and returns the best.
    fn best_at(&self, buf: &[u8], pos: usize, n: usize, ctx: &Context<'_>) -> Option<Hit> {
        // (rule, start, end, keyword present: `None` while not yet looked for, as only a rule
        // that needs a keyword, or a choice between candidates, asks)
        let mut cands: [(u32, usize, usize, Option<bool>); 8] = [(0, 0, 0, None); 8];
        let mut num = 0usize;
        let mut kw_cache: Option<(usize, RuleSet)> = None;
        let mut kw = |this: &Self, rule: usize, start: usize, end: usize| -> bool {
            if ctx.outer.is_some_and(|o| o.contains(rule)) {
                return true;
            }
            if ctx.whole_cell && label_cell(buf, start, end) {
                return this.has_keyword(rule, buf, start, end, ctx, KEYWORD_DISTANCE);
            }
            // Keywords before `start`, computed once per start position.
            if kw_cache.as_ref().is_none_or(|(s, _)| *s != start) {
                let (from, min_end) = keyword_window(buf, start, KEYWORD_DISTANCE);
                let set = this.keywords_ending_after(&buf[from..start], min_end);
                kw_cache = Some((start, set));
            }
            kw_cache.as_ref().is_some_and(|(_, set)| set.contains(rule))
        };
        let mut push = |c: (u32, usize, usize, Option<bool>)| {
            if num < cands.len() {
                cands[num] = c;
                num += 1;
            }
        };

        if n <= 32 {
            let mut sig = [0u8; 48];
            let after = buf.get(pos + n).copied();
            // The digits after the byte after the run (the second run, if any).
            let second = digit_run_end(buf, pos + n + 1) - (pos + n + 1);
            let shapes = &self.shapes_by_run[n];
            for &x in &self.shapes_after[n * 257 + after.map_or(256, usize::from)] {
                let (ri, shape) = &shapes[usize::from(x)];
                if shape.second_run.is_some_and(|r| r != second) {
                    continue;
                }
                let Some(start) = pos.checked_sub(shape.lead) else {
                    continue;
                };
                let Some((end, len)) = match_shape(buf, start, shape, &mut sig) else {
                    continue;
                };
                let rule = &self.rules[*ri as usize];
                let ident = rule
                    .managed()
                    .expect("shapes belong to managed identifiers");
                if let Some(valid) = ident.validator
                    && !valid(&buf[start..end], &sig[..len])
                {
                    continue;
                }
                let needed = shape.needs_keyword || ident.keyword_rule == KeywordRule::Required;
                if needed {
                    if !kw(self, *ri as usize, start, end) {
                        continue;
                    }
                    push((*ri, start, end, Some(true)));
                } else {
                    push((*ri, start, end, None));
                }
            }
        }
        if let Some((ri, _)) = self.iban_rules
            && let Some((start, end)) = match_iban(buf, pos, n)
        {
            push((ri, start, end, Some(true)));
        }
        if let Some(ri) = self.date_rule
            && let Some((start, end)) = match_date(buf, pos, n)
            && kw(self, ri as usize, start, end)
        {
            push((ri, start, end, Some(true)));
        }
        if let Some(ri) = self.phone_rule
            && let Some((start, end, intl)) = match_phone(buf, pos, n)
        {
            if !intl {
                if kw(self, ri as usize, start, end) {
                    push((ri, start, end, Some(true)));
                }
            } else {
                push((ri, start, end, None));
            }
        }
        if let Some(ri) = self.latlong_rule
            && let Some((start, end)) = match_latlong(buf, pos, n)
            && kw(self, ri as usize, start, end)
        {
            push((ri, start, end, Some(true)));
        }
        if num == 0 {
            return None;
        }
        let cands = &mut cands[..num];
        // Keywords still unknown are looked for when they choose between candidates or, for a
        // lone candidate, the type it reports.
        for c in cands.iter_mut() {
            if c.3.is_none() && (num > 1 || self.rules[c.0 as usize].ty_no_keyword.is_some()) {
                c.3 = Some(kw(self, c.0 as usize, c.1, c.2));
            }
        }
        // Prefer a candidate whose keyword is present; then the longest; then table order.
        let best = cands
            .iter()
            .enumerate()
            .max_by_key(|(k, c)| (c.3, c.2 - c.1, std::cmp::Reverse(*k)))
            .map(|(_, c)| *c)
            .expect("at least one candidate");
        let (ri, start, end, present) = best;
        let present = present.unwrap_or(false);
        let rule = &self.rules[ri as usize];
        let ty = if let Some((iban_rule, _)) = self.iban_rules
            && iban_rule == ri
        {
            iban_slot(&buf[start..start + 2])
                .map(|k| self.iban_types[k])
                .filter(|&t| t != u32::MAX)
                .unwrap_or(rule.ty)
        } else if present {
            rule.ty
        } else {
            rule.ty_no_keyword.unwrap_or(rule.ty)
        };
        Some(Hit { ty, start, end })
    }

    fn scan_emails(&self, rule: u32, buf: &[u8], report: &Range<usize>, hits: &mut Vec<Hit>) {
        let lo = report.start;
        let hi = (report.end + 64).min(buf.len());
        let ty = self.rules[rule as usize].ty;
        let mut last_end = 0;
        for at in memchr::memchr_iter(b'@', &buf[lo..hi]) {
            let at = lo + at;
            if at < last_end {
                continue;
            }
            if let Some((s, e)) = match_email(buf, at)
                && report.contains(&s)
            {
                last_end = e;
                hits.push(Hit {
                    ty,
                    start: s,
                    end: e,
                });
            }
        }
    }

    fn scan_custom(
        &self,
        ri: usize,
        buf: &[u8],
        report: &Range<usize>,
        ctx: &Context<'_>,
        hits: &mut Vec<Hit>,
    ) {
        let rule = &self.rules[ri];
        let RuleKind::Custom {
            regex,
            ignore_words,
            distance,
            needs_keyword,
        } = &rule.kind
        else {
            return;
        };
        for m in regex.find_iter(buf) {
            if m.start() < report.start {
                continue;
            }
            if m.start() >= report.end {
                break;
            }
            if m.is_empty() {
                continue;
            }
            let text = m.as_bytes();
            if ignore_words
                .iter()
                .any(|w| memchr::memmem::find(text, w).is_some())
            {
                continue;
            }
            if *needs_keyword && !self.has_keyword(ri, buf, m.start(), m.end(), ctx, *distance) {
                continue;
            }
            hits.push(Hit {
                ty: rule.ty,
                start: m.start(),
                end: m.end(),
            });
        }
    }
}

/// A literal searcher over anchors: SIMD Teddy when the CPU has it, Aho-Corasick otherwise.
/// The packed searcher is chosen explicitly because the automatic choice may pick a
/// rare-byte prefilter whose bytes are common in prose.
#[derive(Debug)]
enum AnchorSearcher {
    Packed(aho_corasick::packed::Searcher),
    Automaton(AhoCorasick),
}

impl AnchorSearcher {
    fn new(anchors: &[&str]) -> Self {
        let packed = aho_corasick::packed::Config::new()
            .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
            .builder()
            .extend(anchors)
            .build();
        match packed {
            Some(s) => AnchorSearcher::Packed(s),
            _ => AnchorSearcher::Automaton(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(anchors)
                    .expect("anchor literals should compile"),
            ),
        }
    }

    /// Calls `f(start, len, pattern)` for an anchor at every position where one starts, also
    /// where matches overlap (`PASS` inside `PASSWORD`): the search resumes one byte after each
    /// match's start, not after its end. At one position the first listed anchor is reported;
    /// `anchor_ext` covers the others, which are its prefixes or extensions.
    fn for_each(&self, haystack: &[u8], mut f: impl FnMut(usize, usize, usize)) {
        let mut at = 0;
        while at < haystack.len() {
            let found = match self {
                AnchorSearcher::Packed(s) => s
                    .find_in(haystack, aho_corasick::Span::from(at..haystack.len()))
                    .map(|m| (m.start(), m.len(), m.pattern().as_usize())),
                AnchorSearcher::Automaton(ac) => ac
                    .find(aho_corasick::Input::new(haystack).span(at..haystack.len()))
                    .map(|m| (m.start(), m.len(), m.pattern().as_usize())),
            };
            let Some((start, len, pattern)) = found else {
                return;
            };
            f(start, len, pattern);
            at = start + 1;
        }
    }
}

/// Anchors per literal searcher, at most. Teddy takes up to 64; above 32 it uses its fat form
/// (16 buckets, 16 bytes a step), whose fingerprints let fewer false candidates through in
/// letter-heavy text: two fat passes over the windows searched everywhere scanned prose at
/// 880–920 MiB/s here, three slim ones (groups of 24) at 720.
const ANCHOR_GROUP: usize = 36;

/// Token anchors per literal searcher, at most: Teddy's limit. They are searched only inside
/// token runs, where a pass costs more than its false candidates: in text dense with keys
/// two passes of 64 (fat) ran 3 % faster here than four of up to 36.
const TOKEN_GROUP: usize = 64;

/// Whether `buf` holds `text` at `p`; the first byte, which tells most case variants apart,
/// is compared before the call.
#[inline]
fn has_at(buf: &[u8], p: usize, text: &[u8]) -> bool {
    buf.get(p) == text.first() && buf[p..].starts_with(text)
}

/// Whether an anchor at `p` may lead to a match that starts inside `report` (no managed
/// regex reaches further back or forward from its anchor).
fn near_report(p: usize, report: &Range<usize>) -> bool {
    p + 4096 >= report.start && p <= report.end + 1024
}

/// Anchors searched through the lower-cased text are searched by a window of at most this
/// many of their (lower-cased) bytes: `TEDDY_MASK`, the length Teddy fingerprints, where those
/// hold punctuation, a camel-case boundary or a space (anchors whose windows agree then share
/// a pattern), one more for windows of letters only (see `fold_windows`).
const FOLD_WINDOW: usize = TEDDY_MASK + 1;

/// Bytes of a pattern the literal searcher (Teddy) fingerprints: it stops wherever these
/// match, and checks the rest of the pattern there.
const TEDDY_MASK: usize = 4;

/// The window each of `ids` is searched by, lower-cased, with its offset in the anchor.
///
/// Every byte of prose the literal searcher stops at costs a restart, so a window is chosen
/// that ordinary words do not hold: one with a byte that is neither a letter nor a space
/// (`t_acc` of `secret_access_key`), else one across a camel-case boundary (`tacce` of
/// `secretAccessKey`), else one with a space between letters (`rd is` of `password is `),
/// else the anchor's first bytes; what counts is in the first `TEDDY_MASK` bytes, the
/// fingerprint the literal searcher stops on. An anchor that starts with another one
/// (lower-cased) takes that one's window, so extensions and case variants share a pattern.
fn fold_windows(strings: &[&str], ids: &[usize]) -> Vec<(String, usize)> {
    let lowers: Vec<Vec<u8>> = ids
        .iter()
        .map(|&a| strings[a].as_bytes().to_ascii_lowercase())
        .collect();
    let mut by_length: Vec<usize> = (0..ids.len()).collect();
    by_length.sort_by_key(|&k| lowers[k].len());
    let mut out: Vec<Option<(String, usize)>> = vec![None; ids.len()];
    for (n, &k) in by_length.iter().enumerate() {
        let text = strings[ids[k]].as_bytes();
        let lower = &lowers[k];
        let shorter = by_length[..n].iter().find_map(|&j| {
            lower
                .starts_with(&lowers[j])
                .then(|| out[j].clone())
                .flatten()
        });
        let window = shorter.unwrap_or_else(|| {
            // The fingerprint's bytes are scored.
            let w = TEDDY_MASK.min(text.len());
            let score = |off: usize| {
                // A byte repeated counts once, and windows of more distinct bytes are
                // preferred: separator lines (`-----`, `=====`) would otherwise stop the
                // searcher at every `----` window of `-----BEGIN RSA PRIVATE KEY`.
                let window = &text[off..off + w];
                let fresh = |i: usize| !window[..i].contains(&window[i]);
                let odd = (0..w)
                    .filter(|&i| !window[i].is_ascii_alphabetic() && window[i] != b' ' && fresh(i))
                    .count();
                let distinct = (0..w).filter(|&i| fresh(i)).count();
                let camel = (off + 1..off + w)
                    .any(|i| text[i - 1].is_ascii_lowercase() && text[i].is_ascii_uppercase());
                let inner_space = (off + 1..off + w - 1).any(|i| text[i] == b' ')
                    && text[off].is_ascii_alphabetic()
                    && text[off + w - 1].is_ascii_alphabetic();
                (odd, camel, inner_space, distinct, std::cmp::Reverse(off))
            };
            let off = (0..=text.len() - w)
                .max_by_key(|&off| score(off))
                .expect("anchors are not empty");
            let (odd, camel, inner_space, _, _) = score(off);
            // A window of letters only stops the searcher at words (`post` of `postmark`):
            // one byte more is verified inside the searcher, which then goes on without
            // returning to the caller.
            let w = if odd == 0 && !camel && !inner_space {
                FOLD_WINDOW.min(text.len() - off)
            } else {
                w
            };
            (
                String::from_utf8_lossy(&lower[off..off + w]).into_owned(),
                off,
            )
        });
        out[k] = Some(window);
    }
    out.into_iter()
        .map(|w| w.expect("every anchor gets a window"))
        .collect()
}

/// Bytes lower-cased at a time for the full-path search.
const LOWER_BLOCK: usize = 64 << 10;

thread_local! {
    /// The lower-cased copy of the text being scanned, reused between scans.
    static LOWER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Token runs less than this apart are searched together.
const RUN_GAP: usize = 512;

/// Token anchors need runs at least this long (shorter runs are common in prose).
const MIN_TOKEN_RUN: usize = 16;

/// Builds literal searchers over `ids` (indexes into `strings`), `ANCHOR_GROUP` literals
/// each at most (`TOKEN_GROUP` with `by_length`), in as few searchers as that allows.
/// Teddy fingerprints the first min(len) bytes of its literals, so anchors are sorted by
/// length: the short ones share a group. With `by_length`, each length class (1, 2, 3, 4+
/// bytes) gets groups of its own (fewer false candidates in text dense with near-misses);
/// without, as few groups as the size limit allows (fewer passes over prose).
fn group_anchors(
    strings: &[&str],
    ids: &[usize],
    by_length: bool,
) -> Vec<(AnchorSearcher, Vec<usize>)> {
    let class = |i: usize| {
        if by_length {
            strings[i].len().min(4)
        } else {
            0
        }
    };
    let mut ids = ids.to_vec();
    ids.sort_by_key(|&i| (strings[i].len().min(4), i));
    let mut out = Vec::new();
    let mut start = 0;
    while start < ids.len() {
        let mut end = start;
        while end < ids.len() && class(ids[end]) == class(ids[start]) {
            end += 1;
        }
        let cap = if by_length { TOKEN_GROUP } else { ANCHOR_GROUP };
        let per_group = (end - start).div_ceil((end - start).div_ceil(cap));
        for group_ids in ids[start..end].chunks(per_group) {
            let group: Vec<&str> = group_ids.iter().map(|&i| strings[i]).collect();
            out.push((AnchorSearcher::new(&group), group_ids.to_vec()));
        }
        start = end;
    }
    out
}

/// Characters of vendor tokens: letters, digits and `_ - . + / = $ ~`.
static TOKEN_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'_' | b'-' | b'.' | b'+' | b'/' | b'=' | b'$' | b'~');
        b += 1;
    }
    t
};

#[inline]
fn is_token_byte(b: u8) -> bool {
    TOKEN_BYTES[b as usize]
}

/// Calls `f(start, end)`, in order, for disjoint ranges that together hold every maximal run of
/// token bytes at least `min` long (`min` is at least 8; token anchors need runs of
/// `MIN_TOKEN_RUN`). A range opens at the start of such a run and takes in the windows of
/// token bytes that follow within `gap` bytes of the last one; it ends where that one's run
/// ends. Runs close together are thus searched as one range: the literal searcher has a cost
/// per call, and bytes between runs only add candidates that the rules reject.
///
/// A run of `min` bytes holds a whole eight-byte window starting at one of the points
/// `min - 7` apart that are looked at, so only those windows are tested (one word each, most
/// rejected by the first space in them). Only a window that would open a range is grown to
/// its run; inside a range nothing is grown, so text of short words, and text that is mostly
/// tokens (keys, base64), both cost well under one operation per byte.
fn for_each_token_range(buf: &[u8], min: usize, gap: usize, mut f: impl FnMut(usize, usize)) {
    let min = min.max(8);
    let stride = min - 7;
    let spaces = LO_BITS * u64::from(b' ');
    // The open range: its start, and an end it reaches at least (the end of the last window
    // of token bytes it took in; its run may go on).
    let mut open: Option<(usize, usize)> = None;
    let mut done = 0usize; // bytes before `done` belong to runs already grown
    let mut i = 0usize;
    while i + 8 <= buf.len() {
        let x = u64::from_le_bytes(buf[i..i + 8].try_into().expect("eight bytes"));
        let y = x ^ spaces;
        let has_space = y.wrapping_sub(LO_BITS) & !y & HI_BITS != 0;
        if has_space || token_mask(x) != HI_BITS {
            i += stride;
            continue;
        }
        if let Some((_, end)) = &mut open {
            if i > *end + gap {
                // Too far from what the range is known to reach: grow its last run first.
                *end = token_run_end(buf, *end);
                done = *end;
            }
            if i <= *end + gap {
                *end = i + 8;
                i += stride;
                continue;
            }
        }
        let s = token_run_start(buf, i, done);
        let e = token_run_end(buf, i + 8);
        done = e;
        if e - s >= min
            && let Some((os, oe)) = open.replace((s, e))
        {
            f(os, oe);
        }
        i = e + 1;
    }
    if let Some((os, oe)) = open {
        f(os, token_run_end(buf, oe));
    }
}

/// Bit 7 of each byte of the result is set when that byte of `x` can be in the token that
/// holds an AWS secret key (letters, digits, `+ / - _ .`).
#[inline]
fn aws_token_mask(x: u64) -> u64 {
    // `- . /` and the digits are one range; upper- and lower-case letters one range once
    // bit 5 is set.
    let x7 = x & !HI_BITS;
    (in_range(x7, b'-', b'9')
        | in_range(x7 | (LO_BITS * 0x20), b'a', b'z')
        | in_range(x7, b'_', b'_')
        | in_range(x7, b'+', b'+'))
        & !x
}

/// Bit 7 of each byte of the result is set when that byte of `x` is a token byte: one of an
/// AWS secret's token, or `= $ ~`.
#[inline]
fn token_mask(x: u64) -> u64 {
    let x7 = x & !HI_BITS;
    let eq = |c: u8| in_range(x7, c, c);
    aws_token_mask(x) | ((eq(b'=') | eq(b'$') | eq(b'~')) & !x)
}

/// The end of the run of token bytes that continues at `i`.
#[inline]
fn token_run_end(buf: &[u8], i: usize) -> usize {
    run_end(buf, i, buf.len(), token_mask, is_token_byte)
}

/// The start of the run of token bytes that holds `buf[i]`, at `floor` at the earliest.
#[inline]
fn token_run_start(buf: &[u8], i: usize, floor: usize) -> usize {
    let mut s = i; // buf[s..=i] are token bytes
    while s >= floor + 8 {
        let x = u64::from_le_bytes(buf[s - 8..s].try_into().expect("eight bytes"));
        let other = !token_mask(x) & HI_BITS;
        if other != 0 {
            return s - (other.leading_zeros() / 8) as usize;
        }
        s -= 8;
    }
    while s > floor && is_token_byte(buf[s - 1]) {
        s -= 1;
    }
    s
}

/// The top-level alternatives of `pattern` (the whole pattern when it is not an alternation).
fn alternatives_of(pattern: &str) -> Vec<Alternative> {
    use regex_syntax::hir::literal::Extractor;
    use regex_syntax::hir::{Hir, HirKind};
    let Ok(hir) = regex_syntax::parse(pattern) else {
        return Vec::new();
    };
    fn top(h: &Hir) -> Vec<Hir> {
        match h.kind() {
            HirKind::Alternation(hs) => hs.clone(),
            HirKind::Capture(c) => top(&c.sub),
            _ => vec![h.clone()],
        }
    }
    top(&hir)
        .iter()
        .map(|alt| Alternative {
            prefixes: Extractor::new()
                .extract(alt)
                .literals()
                .map(|ls| ls.iter().map(|l| l.as_bytes().to_vec()).collect()),
            token_min: token_min_len(alt),
        })
        .collect()
}

/// For a regex whose matches can only consist of token bytes (`TOKEN_BYTES`), the length of
/// its shortest match; `None` when a match may hold any other character.
fn token_min_len(hir: &regex_syntax::hir::Hir) -> Option<usize> {
    use regex_syntax::hir::{Class, Hir, HirKind};
    fn tokens_only(h: &Hir) -> bool {
        match h.kind() {
            HirKind::Empty | HirKind::Look(_) => true,
            HirKind::Literal(l) => l.0.iter().all(|&b| is_token_byte(b)),
            HirKind::Class(Class::Unicode(c)) => c
                .ranges()
                .iter()
                .all(|r| (r.start()..=r.end()).all(|ch| ch.is_ascii() && is_token_byte(ch as u8))),
            HirKind::Class(Class::Bytes(c)) => c
                .ranges()
                .iter()
                .all(|r| (r.start()..=r.end()).all(is_token_byte)),
            HirKind::Repetition(r) => tokens_only(&r.sub),
            HirKind::Capture(c) => tokens_only(&c.sub),
            HirKind::Concat(hs) | HirKind::Alternation(hs) => hs.iter().all(tokens_only),
        }
    }
    if !tokens_only(hir) {
        return None;
    }
    hir.properties().minimum_len()
}

/// Regexes whose match starts at most this many bytes before their anchor run anchored.
const ANCHORED_BACK: usize = 2;

const AWS_ANCHORS: &[&str] = &[
    "AKIA",
    "ASIA",
    "A3T",
    "ecret_access_key",
    "ECRET_ACCESS_KEY",
    "ecretAccessKey",
];

const IBAN_COUNTRIES: &[&str] = &[
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "CH", "GB", "NO", "IS", "LI",
    "MC", "SM", "BR", "TR", "SA", "AE", "IL",
];

/// Index of an upper-case two-letter country code in `Compiled::iban_types`.
fn iban_slot(cc: &[u8]) -> Option<usize> {
    let (a, b) = (cc[0], cc[1]);
    (a.is_ascii_uppercase() && b.is_ascii_uppercase())
        .then(|| usize::from(a - b'A') * 26 + usize::from(b - b'A'))
}

/// A character of an assignment's key: `assignment_at` reads keys of these forwards, and
/// `Compiled::scan_operators` backwards from an operator, so both must agree.
fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// A key-value assignment whose key contains the anchor at `p`: returns the value's span.
///
/// The key runs from the anchor to the end of the identifier, which must be one of `suffixes`
/// (case-insensitive; `""` for none); then an optional closing quote, an operator (`=`, `:`,
/// `:=`, `=>`, `==`) and the value, quoted (`"…"`, `'…'`, `` `…` ``, on one line) or bare. A
/// bare value is taken only after `=` glued to the key (`.env`, INI) or after `: ` (YAML).
/// An XML element named by the key (`<password>…</password>`, Maven's settings.xml, Tomcat's
/// context files) holds its value up to the closing tag, on one line.
fn assignment_at(
    buf: &[u8],
    p: usize,
    anchor_len: usize,
    suffixes: &[&str],
) -> Option<(usize, usize)> {
    // Key start (for the exclusions below) and end.
    let mut ks = p;
    while ks > 0 && p - ks < 64 && (is_key_byte(buf[ks - 1]) || buf[ks - 1] == b'.') {
        ks -= 1;
    }
    let mut i = p + anchor_len;
    let suffix_start = i;
    while i < buf.len() && i - suffix_start <= 8 && is_key_byte(buf[i]) {
        i += 1;
    }
    let suffix = &buf[suffix_start..i];
    if !suffixes
        .iter()
        .any(|s| suffix.eq_ignore_ascii_case(s.as_bytes()))
    {
        return None;
    }
    let key = &buf[ks..i];
    // A key inside a string literal must close it (`"password": …`, not `"Password: …"`).
    let quoted_key = ks > 0 && matches!(buf[ks - 1], b'"' | b'\'' | b'`');
    // Or a header in a string (`-H "apikey: …"`): the string closes after the value.
    let in_string = quoted_key && buf.get(i) == Some(&b':') && buf.get(i + 1) == Some(&b' ');
    if quoted_key && !in_string && buf.get(i) != Some(&buf[ks - 1]) {
        return None;
    }
    let element = ks > 0 && buf[ks - 1] == b'<' && buf.get(i) == Some(&b'>');
    // Cheap rejection first (prose: `the password is`): an operator must follow the key.
    let mut j = i;
    if j < buf.len() && matches!(buf[j], b'"' | b'\'' | b'`') {
        j += 1;
    }
    while j < buf.len() && (buf[j] == b' ' || buf[j] == b'\t') {
        j += 1;
    }
    if !element && !matches!(buf.get(j), Some(b'=' | b':')) {
        return None;
    }
    const NOT_SECRET: &[&[u8]] = &[
        b"hash",
        b"label",
        b"field",
        b"hint",
        b"policy",
        b"prompt",
        b"placeholder",
        b"regex",
        b"pattern",
        b"length",
        b"reset",
        b"forgot",
        b"change",
        b"confirm",
        b"url",
        b"path",
        b"file",
        b"type",
        b"name",
        b"enable",
        b"require",
        b"expir",
        b"mode",
        b"format",
        b"input",
        b"message",
        b"error",
        b"title",
        b"text",
        b"public",
        b"salt",
        b"manager",
        b"provider",
        b"store",
        b"count",
        b"method",
        b"header",
        b"param",
        b"env",
    ];
    static NOT_SECRET_AC: std::sync::LazyLock<AhoCorasick> = std::sync::LazyLock::new(|| {
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .build(NOT_SECRET)
            .expect("key words compile")
    });
    if NOT_SECRET_AC.is_match(key) {
        return None;
    }
    // Tokens that are not credentials: pagination and continuation markers, CSRF and
    // idempotency tokens, push-notification device tokens, a tokenizer's settings.
    const NOT_CREDENTIAL_TOKEN: &[&[u8]] = &[
        b"page",
        b"next",
        b"continuation",
        b"cursor",
        b"marker",
        b"csrf",
        b"xsrf",
        b"authenticity",
        b"idempotency",
        b"client",
        b"device",
        b"push",
        b"fcm",
        b"apns",
        b"registration",
        b"cancel",
        b"sync",
        b"resume",
        b"request",
        b"max",
        b"min",
        b"limit",
        b"usage",
        b"used",
        b"total",
        b"prompt",
        b"completion",
        b"separator",
        b"special",
        b"pad",
        b"bos",
        b"eos",
        b"unk",
    ];
    static NOT_CREDENTIAL_TOKEN_AC: std::sync::LazyLock<AhoCorasick> =
        std::sync::LazyLock::new(|| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .build(NOT_CREDENTIAL_TOKEN)
                .expect("key words compile")
        });
    if buf[p..p + anchor_len].eq_ignore_ascii_case(b"oken") && NOT_CREDENTIAL_TOKEN_AC.is_match(key)
    {
        return None;
    }
    if element {
        // `<key>value</key>`: the value has no markup and the element closes on its line.
        let s = i + 1;
        let end = (s + 200).min(buf.len());
        let close = buf[s..end].iter().position(|&c| c == b'<' || c == b'\n')?;
        let e = s + close;
        return (e > s && buf.get(e + 1) == Some(&b'/')).then_some((s, e));
    }
    // A member of a connection string is reported by the connection-string rule.
    let mut b = ks;
    while b > 0 && (buf[b - 1] == b' ' || buf[b - 1] == b'\t') {
        b -= 1;
    }
    if b > 0 && buf[b - 1] == b';' {
        return None;
    }
    if i < buf.len() && matches!(buf[i], b'"' | b'\'' | b'`') {
        i += 1;
    }
    let glued = i < buf.len() && buf[i] == b'=';
    while i < buf.len() && (buf[i] == b' ' || buf[i] == b'\t') {
        i += 1;
    }
    let op = buf.get(i..(i + 2).min(buf.len()))?;
    let colon = op.first() == Some(&b':') && op.get(1) != Some(&b'=');
    let op_len = match op {
        [b':', b'='] | [b'=', b'>'] | [b'=', b'='] => 2,
        [b'=', ..] | [b':', ..] => 1,
        _ => return None,
    };
    i += op_len;
    let after_op = i;
    while i < buf.len() && (buf[i] == b' ' || buf[i] == b'\t') {
        i += 1;
    }
    let q = *buf.get(i)?;
    if matches!(q, b'"' | b'\'' | b'`') {
        let s = i + 1;
        let end = (s + 200).min(buf.len());
        let close = buf[s..end].iter().position(|&c| c == q || c == b'\n')?;
        if buf[s + close] != q {
            return None;
        }
        // An escaped quote, or a literal that goes on (concatenation): not a plain value.
        let e = s + close;
        if e > s && buf[e - 1] == b'\\' {
            return None;
        }
        if let Some(&next) = buf.get(e + 1)
            && !matches!(
                next,
                b',' | b';' | b')' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n'
            )
        {
            return None;
        }
        return Some((s, e));
    }
    if in_string {
        // The value runs to the quote that opened the header, with nothing after it.
        let q = buf[ks - 1];
        let end = (i + 200).min(buf.len());
        let e = i + buf[i..end].iter().position(|&c| c == q || c == b'\n')?;
        let bare = &buf[i..e];
        return (buf[e] == q && !bare.is_empty() && !bare.contains(&b' ')).then_some((i, e));
    }
    // Bare values: `KEY=value`, `key: value`, or `key = value` where the key opens its line
    // (INI, .properties, my.cnf) and the value is a literal rather than a name (below).
    let line_key = buf[..ks]
        .iter()
        .rev()
        .take_while(|&&b| b != b'\n')
        .all(|&b| b == b' ' || b == b'\t' || b == b'\r');
    let spaced = !glued && !colon && op_len == 1 && after_op < buf.len() && buf[after_op] == b' ';
    if !(glued || (colon && after_op < buf.len() && buf[after_op] == b' ') || (spaced && line_key))
    {
        return None;
    }
    let s = i;
    let mut e = s;
    while e < buf.len()
        && e - s <= 128
        && !buf[e].is_ascii_whitespace()
        && !matches!(buf[e], b'"' | b'\'' | b'`' | b';' | b',')
    {
        e += 1;
    }
    // The value ends the line (or a comment follows).
    let mut k = e;
    while k < buf.len() && (buf[k] == b' ' || buf[k] == b'\t') {
        k += 1;
    }
    if k < buf.len() && !matches!(buf[k], b'\r' | b'\n' | b'#') {
        return None;
    }
    // `password = make_password` in code assigns a name: a spaced `=` takes a value with a
    // digit or a symbol that names do not hold, and no `$` (`super$ecret` interpolates).
    if spaced
        && !glued
        && (buf[s..e].contains(&b'$')
            || !buf[s..e].iter().any(|&b| {
                b.is_ascii_digit() || !(b.is_ascii_alphanumeric() || b"_.()[]".contains(&b))
            }))
    {
        return None;
    }
    (e > s).then_some((s, e))
}

/// Pushes the start of every AWS access key ID in `buf[from..to]` to `out`, in order.
fn key_ids(buf: &[u8], from: usize, to: usize, out: &mut Vec<usize>) {
    const PREFIXES: &[&[u8]] = &[
        b"AKIA", b"ASIA", b"ABIA", b"ACCA", b"AGPA", b"AIDA", b"AROA", b"AIPA", b"ANPA", b"ANVA",
        b"APKA",
    ];
    let mut i = from;
    while let Some(k) = memchr::memchr(b'A', &buf[i..to]) {
        let at = i + k;
        i = at + 1;
        if at + 20 > buf.len() {
            break;
        }
        // A word's start first: most `A`s are inside words (base64).
        if at > 0 && buf[at - 1].is_ascii_alphanumeric() {
            continue;
        }
        let w = &buf[at..];
        let prefix_ok = PREFIXES.iter().any(|p| w.starts_with(p))
            || (w.starts_with(b"A3T") && w[3].is_ascii_alphanumeric());
        if prefix_ok
            && w[4..20]
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            && (w.len() == 20 || !w[20].is_ascii_alphanumeric())
        {
            out.push(at);
        }
    }
}

/// Whether a cell or JSON string holding a match at `start..end` is a label with its value
/// (`SSN 536-22-5181`, `536-22-5181 (ssn)`), where a keyword anywhere in the cell counts,
/// rather than free text (a `notes` or `comment` cell), where the text rule applies: a keyword
/// within `KEYWORD_DISTANCE` characters before the match. The threshold is that same distance:
/// a cell is a label when the text around the match, both sides together, is at most
/// `KEYWORD_DISTANCE` characters, so every keyword it holds is within the distance of the
/// match, on whichever side (a cell puts its label after the value as often as before).
fn label_cell(buf: &[u8], start: usize, end: usize) -> bool {
    let chars = |s: &[u8]| s.iter().filter(|&&b| b & 0xC0 != 0x80).count();
    buf.len() - (end - start) <= KEYWORD_DISTANCE
        || chars(&buf[..start]) + chars(&buf[end..]) <= KEYWORD_DISTANCE
}

/// Returns the index `distance` characters (not bytes) before `pos`, or 0.
fn back_chars(buf: &[u8], pos: usize, distance: usize) -> usize {
    let from = pos.saturating_sub(distance);
    if buf[from..pos].is_ascii() {
        return from;
    }
    let mut i = pos;
    let mut chars = 0;
    while i > 0 && chars < distance {
        i -= 1;
        if buf[i] & 0xC0 != 0x80 {
            chars += 1;
        }
    }
    i
}

/// The window searched for keywords before `start` and the least end (relative to the
/// window) a keyword may have: keywords must end within `distance` characters of the match.
fn keyword_window(buf: &[u8], start: usize, distance: usize) -> (usize, usize) {
    const LONGEST_KEYWORD: usize = 40;
    // ASCII text (nearly always): characters are bytes, and one test covers both windows.
    let far = start.saturating_sub(distance + LONGEST_KEYWORD);
    let (from, limit) = if buf[far..start].is_ascii() {
        (far, start.saturating_sub(distance))
    } else {
        (
            back_chars(buf, start, distance + LONGEST_KEYWORD),
            back_chars(buf, start, distance),
        )
    };
    let from = line_window_start(buf, from, start);
    (from, limit.saturating_sub(from))
}

/// Start of the keyword window `from..pos` in text: not past the start of the line, unless
/// the match opens its line and the line before is a label (`SSN:` then the value on the
/// next line).
fn line_window_start(buf: &[u8], from: usize, pos: usize) -> usize {
    match memchr::memrchr(b'\n', &buf[from..pos]) {
        None => from,
        Some(nl) => {
            let nl = from + nl;
            let rest_blank = buf[nl + 1..pos].iter().all(|b| b.is_ascii_whitespace());
            let label = buf[from..nl].trim_ascii_end().last() == Some(&b':');
            if rest_blank && label { from } else { nl + 1 }
        }
    }
}

/// Whether a keyword found at `s..e` stands as a word: not glued to letters on either side,
/// except at a camelCase boundary (`customerPhone`) or a plural `s`.
fn keyword_boundary(text: &[u8], s: usize, e: usize) -> bool {
    let before_ok = s == 0
        || !text[s - 1].is_ascii_alphabetic()
        || (text[s].is_ascii_uppercase() && text[s - 1].is_ascii_lowercase());
    let after_ok = e >= text.len()
        || !text[e].is_ascii_alphabetic()
        || (text[e].is_ascii_uppercase() && text[e - 1].is_ascii_lowercase())
        || (text[e] == b's' && (e + 1 >= text.len() || !text[e + 1].is_ascii_alphabetic()));
    before_ok && after_ok
}

/// Returns the position of the first ASCII digit in `buf[from..to]`, eight bytes at a time.
#[inline]
pub(crate) fn next_digit(buf: &[u8], from: usize, to: usize) -> Option<usize> {
    let mut i = from;
    while i + 8 <= to {
        let x = u64::from_le_bytes(buf[i..i + 8].try_into().expect("eight bytes"));
        // Bytes 0x30..=0x39 become 0x00..=0x09 after the xor; test for any byte below 10.
        let y = x ^ (LO_BITS * 0x30);
        let found = y.wrapping_sub(LO_BITS * 10) & !y & HI_BITS;
        if found != 0 {
            // A borrow only flags bytes above a true digit, so the lowest flag is exact.
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    while i < to {
        if buf[i].is_ascii_digit() {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Classes of bytes for `scan_digits`, as bits of `BYTE_CLASS`.
const ALNUM: u8 = 1;
const UPPER: u8 = 2;
const LOWER_CASE: u8 = 4;
const DIGIT: u8 = 8;
/// `-`, `.` and `/`, which a number goes on past.
const NUMBER_SEP: u8 = 16;

static BYTE_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if c.is_ascii_uppercase() {
            ALNUM | UPPER
        } else if c.is_ascii_lowercase() {
            ALNUM | LOWER_CASE
        } else if c.is_ascii_digit() {
            ALNUM | DIGIT
        } else if matches!(c, b'-' | b'.' | b'/') {
            NUMBER_SEP
        } else {
            0
        };
        b += 1;
    }
    t
};

/// The end of the digit run that starts at `pos`, eight bytes at a time.
#[inline]
fn digit_run_end(buf: &[u8], pos: usize) -> usize {
    run_end(
        buf,
        pos,
        buf.len(),
        |x| in_range(x & !HI_BITS, b'0', b'9') & !x,
        |b| b.is_ascii_digit(),
    )
}

/// Returns the end of the alphanumeric word that continues at `i` (at most `to`).
#[inline]
fn skip_word(buf: &[u8], i: usize, to: usize) -> usize {
    run_end(buf, i, to, alnum_mask, |b| b.is_ascii_alphanumeric())
}

/// Returns the end (at most `to`) of the run of bytes in a class that continues at `i`, eight
/// bytes at a time: `mask` sets bit 7 of each byte of a word in the class, `is` tells one byte.
#[inline(always)]
fn run_end(
    buf: &[u8],
    mut i: usize,
    to: usize,
    mask: impl Fn(u64) -> u64,
    is: impl Fn(u8) -> bool,
) -> usize {
    while i + 8 <= to {
        let x = u64::from_le_bytes(buf[i..i + 8].try_into().expect("eight bytes"));
        let other = !mask(x) & HI_BITS;
        if other != 0 {
            return i + (other.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < to && is(buf[i]) {
        i += 1;
    }
    i
}

const LO_BITS: u64 = 0x0101_0101_0101_0101;
const HI_BITS: u64 = 0x8080_8080_8080_8080;

/// Bit 7 of each byte of the result is set when that byte of `x` is in `lo..=hi` (ASCII only).
#[inline]
fn in_range(x7: u64, lo: u8, hi: u8) -> u64 {
    // x7 has bit 7 of every byte clear, so the per-byte sums below never carry across bytes.
    let ge = x7 + LO_BITS * u64::from(0x80 - lo);
    let gt = x7 + LO_BITS * u64::from(0x7f - hi);
    ge & !gt & HI_BITS
}

/// Bit 7 of each byte of the result is set when that byte of `x` is an ASCII letter or digit.
#[inline]
fn alnum_mask(x: u64) -> u64 {
    let x7 = x & !HI_BITS;
    let ascii = !x & HI_BITS;
    (in_range(x7, b'0', b'9') | in_range(x7 | (LO_BITS * 0x20), b'a', b'z')) & ascii
}

fn is_sep(b: u8) -> bool {
    b == b' ' || b == b'-'
}

/// Matches `shape` at `buf[start..]`; returns the end and the significant characters.
fn match_shape(
    buf: &[u8],
    start: usize,
    shape: &Shape,
    sig: &mut [u8; 48],
) -> Option<(usize, usize)> {
    // Left boundary first (cheap rejection): not glued to a letter or digit, nor continuing a
    // number.
    if start > 0 {
        let p = buf[start - 1];
        if p.is_ascii_alphanumeric() || p == b'_' {
            return None;
        }
        if (p == b'-' || p == b'.' || p == b'/' || p == b',')
            && start > 1
            && buf[start - 2].is_ascii_digit()
        {
            return None;
        }
    }
    // Every layout character takes one byte, so the end is known: a layout that runs past the
    // text, or whose next byte is glued to it, or whose last byte does not fit, fails before
    // the walk below (which would reach the same answer).
    let end = start + shape.bytes.len();
    let (Some(&last_c), Some(&last)) = (shape.bytes.last(), buf.get(end.wrapping_sub(1))) else {
        return None;
    };
    if end > buf.len()
        || buf
            .get(end)
            .is_some_and(|&q| q.is_ascii_alphanumeric() || q == b'_')
        || !fits(last_c, last)
    {
        return None;
    }
    let mut i = start;
    let mut n = 0;
    let mut sep_used: Option<u8> = None;
    for &c in &shape.bytes {
        let b = *buf.get(i)?;
        let ok = match c {
            b'~' => {
                if !is_sep(b) || sep_used.is_some_and(|s| s != b) {
                    return None;
                }
                sep_used = Some(b);
                i += 1;
                continue;
            }
            c => fits(c, b),
        };
        if !ok {
            return None;
        }
        if matches!(c, b'd' | b'L' | b'A' | b'l') {
            if n >= sig.len() {
                return None;
            }
            sig[n] = b;
            n += 1;
        }
        i += 1;
    }
    debug_assert_eq!(i, end);
    // Left boundary: not glued to a letter or digit, nor continuing a number.
    if start > 0 {
        let p = buf[start - 1];
        if p.is_ascii_alphanumeric() || p == b'_' {
            return None;
        }
        if (p == b'-' || p == b'.' || p == b'/' || p == b',')
            && start > 1
            && buf[start - 2].is_ascii_digit()
        {
            return None;
        }
        if p == b' ' && sep_used == Some(b' ') && start > 1 && buf[start - 2].is_ascii_digit() {
            return None;
        }
    }
    if end < buf.len() {
        let q = buf[end];
        if q.is_ascii_alphanumeric() || q == b'_' {
            return None;
        }
        let next_digit = end + 1 < buf.len() && buf[end + 1].is_ascii_digit();
        if (q == b'-' || q == b'.' || q == b'/' || (q == b',' && shape.bytes.len() <= 5))
            && next_digit
        {
            return None;
        }
        if q == b' ' && sep_used == Some(b' ') && next_digit {
            return None;
        }
    }
    Some((end, n))
}

/// Whether byte `b` fits layout character `c` (`~`, a separator, is told by `match_shape`).
#[inline]
fn fits(c: u8, b: u8) -> bool {
    match c {
        b'd' => b.is_ascii_digit(),
        b'L' => b.is_ascii_uppercase(),
        b'l' => b.is_ascii_alphabetic(),
        b'A' => b.is_ascii_uppercase() || b.is_ascii_digit(),
        b'~' => is_sep(b),
        lit => b == lit,
    }
}

/// IBAN starting two letters before the digit run at `pos` (the check digits).
fn match_iban(buf: &[u8], pos: usize, n: usize) -> Option<(usize, usize)> {
    if pos < 2 || n < 2 {
        return None;
    }
    let start = pos - 2;
    if !buf[start].is_ascii_uppercase() || !buf[start + 1].is_ascii_uppercase() {
        return None;
    }
    if start > 0 && (buf[start - 1].is_ascii_alphanumeric() || buf[start - 1] == b'_') {
        return None;
    }
    let want = v::iban_length(&buf[start..start + 2])?;
    let mut sig = [0u8; 34];
    let mut k = 0;
    let mut i = start;
    while i < buf.len() && k < want {
        let b = buf[i];
        if b.is_ascii_uppercase() || b.is_ascii_digit() {
            sig[k] = b;
            k += 1;
            i += 1;
        } else if b == b' '
            && k >= 4
            && k % 4 == 0
            && i + 1 < buf.len()
            && buf[i + 1].is_ascii_alphanumeric()
        {
            i += 1;
        } else {
            break;
        }
    }
    if k != want {
        return None;
    }
    if i < buf.len() && (buf[i].is_ascii_alphanumeric() || buf[i] == b'_') {
        return None;
    }
    // A longer spaced group continuing the number means it is not this IBAN.
    if i + 1 < buf.len() && buf[i] == b' ' && buf[i + 1].is_ascii_digit() && buf[start + 4] == b' '
    {
        return None;
    }
    v::iban(&sig[..k]).then_some((start, i))
}

/// Bytes a month name may start with (see `month_number`), either case.
static MONTH_START: [bool; 256] = {
    let mut t = [false; 256];
    let first = b"jfmasondgle";
    let mut k = 0;
    while k < first.len() {
        t[first[k] as usize] = true;
        t[first[k].to_ascii_uppercase() as usize] = true;
        k += 1;
    }
    t
};

/// Whether `b` can be part of a month name: an ASCII letter or a byte of a multi-byte UTF-8
/// character (`März`, `février`, `août`, `março`).
#[inline]
fn month_byte(b: u8) -> bool {
    b.is_ascii_alphabetic() || b >= 0x80
}

/// The month a lower-cased word names: full names and the usual abbreviations in English,
/// German, French, Spanish, Italian, Portuguese and Dutch, with and without their accents
/// (`märz`/`maerz`/`marz`, `août`/`aout`). UTF-8 bytes are written as escapes: `\xc3\xa4` ä,
/// `\xc3\xa9` é, `\xc3\xbb` û, `\xc3\xa7` ç.
fn month_number(word: &[u8]) -> Option<u32> {
    Some(match word {
        b"january" | b"jan" | b"januar" | b"j\xc3\xa4nner" | b"jaenner" | b"janvier" | b"janv"
        | b"enero" | b"ene" | b"gennaio" | b"gen" | b"janeiro" | b"januari" => 1,
        b"february" | b"feb" | b"februar" | b"f\xc3\xa9vrier" | b"fevrier" | b"f\xc3\xa9vr"
        | b"fevr" | b"febrero" | b"febbraio" | b"fevereiro" | b"fev" | b"februari" => 2,
        b"march" | b"mar" | b"m\xc3\xa4rz" | b"maerz" | b"marz" | b"m\xc3\xa4r" | b"mrz"
        | b"mars" | b"marzo" | b"mar\xc3\xa7o" | b"marco" | b"maart" | b"mrt" => 3,
        b"april" | b"apr" | b"avril" | b"avr" | b"abril" | b"abr" | b"aprile" => 4,
        b"may" | b"mai" | b"mayo" | b"maggio" | b"mag" | b"maio" | b"mei" => 5,
        b"june" | b"jun" | b"juni" | b"juin" | b"junio" | b"giugno" | b"giu" | b"junho" => 6,
        b"july" | b"jul" | b"juli" | b"juillet" | b"juil" | b"julio" | b"luglio" | b"lug"
        | b"julho" => 7,
        b"august" | b"aug" | b"ao\xc3\xbbt" | b"aout" | b"agosto" | b"ago" | b"augustus" => 8,
        b"september" | b"sep" | b"sept" | b"septembre" | b"septiembre" | b"setiembre"
        | b"settembre" | b"set" | b"setembro" => 9,
        b"october" | b"oct" | b"oktober" | b"okt" | b"octobre" | b"octubre" | b"ottobre"
        | b"ott" | b"outubro" | b"out" => 10,
        b"november" | b"nov" | b"novembre" | b"noviembre" | b"novembro" => 11,
        b"december" | b"dec" | b"dezember" | b"dez" | b"d\xc3\xa9cembre" | b"decembre"
        | b"d\xc3\xa9c" | b"diciembre" | b"dic" | b"dicembre" | b"dezembro" => 12,
        _ => return None,
    })
}

/// The month named by the word at `i` (the whole word: `Marchs` is none) and the word's
/// length in bytes. Called at most once per digit run that a month may follow, so a byte
/// table rejects most words at their first byte, and the rest are lower-cased (Latin-1
/// capitals too: `MÄRZ`) into a small buffer that one `match` looks up.
fn month_at(buf: &[u8], i: usize) -> Option<(u32, usize)> {
    if !buf.get(i).is_some_and(|&b| MONTH_START[usize::from(b)]) {
        return None;
    }
    let mut word = [0u8; 10];
    let mut k = 0;
    let mut prev = 0u8;
    while let Some(&b) = buf.get(i + k)
        && month_byte(b)
    {
        if k == word.len() {
            return None;
        }
        word[k] = if prev == 0xC3 && (0x80..=0x9E).contains(&b) {
            b + 0x20
        } else {
            b.to_ascii_lowercase()
        };
        prev = b;
        k += 1;
    }
    Some((month_number(&word[..k])?, k))
}

fn month_before(buf: &[u8], end: usize) -> Option<(u32, usize)> {
    if end == 0 || !month_byte(buf[end - 1]) {
        return None;
    }
    // Find a month name ending at `end`.
    let mut s = end;
    while s > 0 && month_byte(buf[s - 1]) && end - s < 10 {
        s -= 1;
    }
    if s == end || (s > 0 && (buf[s - 1].is_ascii_alphanumeric() || buf[s - 1] >= 0x80)) {
        return None;
    }
    let (m, len) = month_at(buf, s)?;
    (s + len == end).then_some((m, s))
}

/// The length of an ordinal suffix after a day at `buf[pos..e]` (`26th`, `1st`, `2nd`,
/// `3rd`, French `1er`, Spanish and Portuguese `1º`), or 0.
#[inline(always)]
fn ordinal_len(buf: &[u8], pos: usize, e: usize) -> usize {
    let (Some(&a), Some(&b)) = (buf.get(e), buf.get(e + 1)) else {
        return 0;
    };
    if e - pos > 2 {
        return 0;
    }
    // `| 0x20` lower-cases a letter, and only a letter becomes one.
    let ok = match [a | 0x20, b | 0x20] {
        [b's', b't'] | [b'n', b'd'] | [b'r', b'd'] | [b't', b'h'] => true,
        [b'e', b'r'] => e - pos == 1 && buf[pos] == b'1',
        _ => a == 0xC2 && b == 0xBA,
    };
    if ok && !buf.get(e + 2).is_some_and(u8::is_ascii_alphanumeric) {
        2
    } else {
        0
    }
}

/// Whether the lower-case letter after the digit run `buf[pos..j]` may end a numeric
/// identifier after all: a day's ordinal suffix (`26th April`, `1er mai`) or a DNI's check
/// letter after its eight digits (`02778053k`).
#[cold]
fn suffix_ok(buf: &[u8], pos: usize, j: usize) -> bool {
    let n = j - pos;
    (n <= 2 && ordinal_len(buf, pos, j) > 0)
        || (n == 8 && !buf.get(j + 1).is_some_and(u8::is_ascii_alphanumeric))
}

/// The length of a connecting word before a month or year (`1st of May`, `4 de março de
/// 1985`, `7 de marzo del 1963`), space included, or 0.
#[inline]
fn connector_len(buf: &[u8], k: usize) -> usize {
    let Some(&[a, b, c]) = buf.get(k..k + 3) else {
        return 0;
    };
    // `| 0x20` lower-cases a letter, and only a letter becomes one.
    match [a | 0x20, b | 0x20] {
        [b'o', b'f'] | [b'd', b'e'] if c == b' ' => 3,
        [b'd', b'e'] if c | 0x20 == b'l' && buf.get(k + 3) == Some(&b' ') => 4,
        _ => 0,
    }
}

/// A date written day first with a month name: `k` is the space after the day at
/// `buf[pos..]` (and its ordinal suffix or dot), `d` the day: `12 April 1980`, `26th April
/// 1993`, `1st of May 1990`, `4. März 1985`, `4 de março de 1985`.
fn day_month_year(buf: &[u8], pos: usize, d: u32, k: usize) -> Option<(usize, usize)> {
    if buf.get(k) != Some(&b' ') {
        return None;
    }
    let k = k + 1;
    let k = k + connector_len(buf, k);
    let (m, len) = month_at(buf, k)?;
    let mut k = k + len;
    if buf.get(k) == Some(&b'.') {
        k += 1;
    }
    if buf.get(k) == Some(&b',') {
        k += 1;
    }
    if buf.get(k) != Some(&b' ') {
        return None;
    }
    let k = k + 1;
    let k = k + connector_len(buf, k);
    let e3 = digits_at(buf, k, 4, 4)?;
    let y = num(&buf[k..e3]);
    (v::ymd(y, m, d) && not_glued(buf, pos, e3)).then_some((pos, e3))
}

fn num(buf: &[u8]) -> u32 {
    buf.iter().fold(0, |a, &b| a * 10 + u32::from(b - b'0'))
}

fn digits_at(buf: &[u8], i: usize, lo: usize, hi: usize) -> Option<usize> {
    let mut j = i;
    while j < buf.len() && buf[j].is_ascii_digit() && j - i <= hi {
        j += 1;
    }
    let n = j - i;
    (n >= lo && n <= hi && !(j < buf.len() && buf[j].is_ascii_digit())).then_some(j)
}

fn not_glued(buf: &[u8], start: usize, end: usize) -> bool {
    (start == 0
        || !(buf[start - 1].is_ascii_alphanumeric()
            || buf[start - 1] == b'/'
            || buf[start - 1] == b'.'
            || (buf[start - 1] == b'-' && start > 1 && buf[start - 2].is_ascii_digit())))
        && (end >= buf.len()
            || !(buf[end].is_ascii_alphanumeric()
                && !(buf[end] == b'T' && end + 1 < buf.len() && buf[end + 1].is_ascii_digit())
                || ((buf[end] == b'/' || buf[end] == b'-' || buf[end] == b'.')
                    && end + 1 < buf.len()
                    && buf[end + 1].is_ascii_digit())))
}

/// A date at the digit run `pos..pos+n`: numeric (`1980-04-12`, `12/04/1980`, `4.12.1980`) or
/// with a month name (`12 April 1980`, `April 12, 1980`, `12-Apr-1980`).
fn match_date(buf: &[u8], pos: usize, n: usize) -> Option<(usize, usize)> {
    let e1 = pos + n;
    if n == 8 && not_glued(buf, pos, e1) {
        // 19800412
        let (y, m, d) = (
            num(&buf[pos..pos + 4]),
            num(&buf[pos + 4..pos + 6]),
            num(&buf[pos + 6..pos + 8]),
        );
        return v::ymd(y, m, d).then_some((pos, e1));
    }
    let sep = *buf.get(e1)?;
    if n == 4 && (sep == b'-' || sep == b'/' || sep == b'.') {
        // yyyy-mm-dd
        let e2 = digits_at(buf, e1 + 1, 1, 2)?;
        if buf.get(e2) != Some(&sep) {
            return None;
        }
        let e3 = digits_at(buf, e2 + 1, 1, 2)?;
        let (y, m, d) = (
            num(&buf[pos..e1]),
            num(&buf[e1 + 1..e2]),
            num(&buf[e2 + 1..e3]),
        );
        return (v::ymd(y, m, d) && not_glued(buf, pos, e3)).then_some((pos, e3));
    }
    if (1..=2).contains(&n) && (sep == b'-' || sep == b'/' || sep == b'.') {
        if let Some(e2) = digits_at(buf, e1 + 1, 1, 2) {
            if buf.get(e2) != Some(&sep) {
                return None;
            }
            let e3 = digits_at(buf, e2 + 1, 4, 4).or_else(|| digits_at(buf, e2 + 1, 2, 2))?;
            let a = num(&buf[pos..e1]);
            let b = num(&buf[e1 + 1..e2]);
            let mut y = num(&buf[e2 + 1..e3]);
            if e3 - e2 - 1 == 2 {
                y += if y <= 30 { 2000 } else { 1900 };
            }
            let ok = v::ymd(y, a, b) || v::ymd(y, b, a);
            return (ok && not_glued(buf, pos, e3)).then_some((pos, e3));
        }
        // 12-Apr-1980
        if let Some((m, len)) = month_at(buf, e1 + 1)
            && buf.get(e1 + 1 + len) == Some(&sep)
        {
            let e3 = digits_at(buf, e1 + 2 + len, 4, 4)?;
            let d = num(&buf[pos..e1]);
            let y = num(&buf[e1 + 2 + len..e3]);
            return (v::ymd(y, m, d) && not_glued(buf, pos, e3)).then_some((pos, e3));
        }
        // 4. März 1985
        if sep == b'.' && buf.get(e1 + 1) == Some(&b' ') {
            return day_month_year(buf, pos, num(&buf[pos..e1]), e1 + 1);
        }
        return None;
    }
    // 26th April 1993, 1er mai 1990: the suffix, if any, ends the day.
    let ord = if (1..=2).contains(&n) && (sep.is_ascii_alphabetic() || sep == 0xC2) {
        ordinal_len(buf, pos, e1)
    } else {
        0
    };
    if (1..=2).contains(&n)
        && (sep == b' ' || ord > 0)
        && let Some(r) = day_month_year(buf, pos, num(&buf[pos..e1]), e1 + ord)
    {
        // 12 April 1980
        return Some(r);
    }
    if (1..=2).contains(&n) && pos >= 4 && buf[pos - 1] == b' ' {
        // April 12, 1980; May 10th, 1942
        let mut mend = pos - 1;
        if buf[mend - 1] == b'.' {
            mend -= 1;
        }
        if let Some((m, mstart)) = month_before(buf, mend) {
            let mut k = e1 + ord;
            if buf.get(k) == Some(&b',') {
                k += 1;
            }
            if buf.get(k) != Some(&b' ') {
                return None;
            }
            let e3 = digits_at(buf, k + 1, 4, 4)?;
            let d = num(&buf[pos..e1]);
            let y = num(&buf[k + 1..e3]);
            return (v::ymd(y, m, d) && not_glued(buf, mstart, e3)).then_some((mstart, e3));
        }
    }
    if n == 8 && not_glued(buf, pos, e1) {
        // 19800412
        let (y, m, d) = (
            num(&buf[pos..pos + 4]),
            num(&buf[pos + 4..pos + 6]),
            num(&buf[pos + 6..pos + 8]),
        );
        return v::ymd(y, m, d).then_some((pos, e1));
    }
    None
}

/// A phone number at the digit run `pos..pos+n`. Returns `(start, end, international)`;
/// international numbers (with `+` and a country code) need no keyword.
fn match_phone(buf: &[u8], pos: usize, n: usize) -> Option<(usize, usize, bool)> {
    let plus = pos > 0 && buf[pos - 1] == b'+';
    let paren = pos > 0 && buf[pos - 1] == b'(';
    // A slash may follow an area code with its trunk 0 (`030/901820`, German usage).
    let slash_after = |g: usize| !plus && !paren && (3..=6).contains(&g) && buf[pos] == b'0';
    // No separator after the run: one group, which must be a whole number (ten digits, 10
    // to 12 from a trunk 0, or 10 to 15 after `+`; an open parenthesis never closes). The
    // checks below would say so after collecting it.
    let next = buf.get(pos + n).copied();
    if !matches!(next, Some(b')' | b' ' | b'-' | b'.' | b'('))
        && (paren
            || !(if plus {
                (10..=15).contains(&n)
            } else {
                n == 10 || ((11..=12).contains(&n) && buf[pos] == b'0')
            }))
        && (next != Some(b'/') || !slash_after(n))
    {
        return None;
    }
    let start = if plus || paren { pos - 1 } else { pos };
    if start > 0 {
        let p = buf[start - 1];
        if p.is_ascii_alphanumeric()
            || p == b'_'
            || p == b'/'
            || p == b'.'
            || p == b'+'
            || (p == b'-' && start > 1 && buf[start - 2].is_ascii_digit())
        {
            return None;
        }
        if p == b' ' && start > 1 && buf[start - 2].is_ascii_digit() && !plus {
            return None;
        }
    }
    // Collect digit groups separated by a single space, dash, dot, or parentheses.
    let mut digits = [0u8; 20];
    let mut k = 0;
    let mut i = start + usize::from(plus || paren);
    let mut groups = 0;
    let mut seps: [u8; 8] = [0; 8];
    // Lengths of the first groups.
    let mut lens: [usize; 8] = [0; 8];
    let mut end;
    let mut paren_open = paren;
    loop {
        let gs = i;
        while i < buf.len() && buf[i].is_ascii_digit() {
            if k >= digits.len() {
                return None;
            }
            digits[k] = buf[i];
            k += 1;
            i += 1;
        }
        if i == gs {
            return None;
        }
        groups += 1;
        end = i;
        if groups > 7 {
            return None;
        }
        lens[groups - 1] = i - gs;
        // Separator.
        let mut j = i;
        let mut sep = 0u8;
        if paren_open && buf.get(j) == Some(&b')') {
            paren_open = false;
            j += 1;
            sep = b')';
            if buf.get(j) == Some(&b' ') || buf.get(j) == Some(&b'-') {
                j += 1;
            }
        } else if let Some(&b) = buf.get(j)
            && (b == b' ' || b == b'-' || b == b'.' || (b == b'/' && groups == 1 && slash_after(k)))
        {
            j += 1;
            sep = b;
            if buf.get(j) == Some(&b'(') && !paren_open {
                paren_open = true;
                j += 1;
            }
        } else if buf.get(j) == Some(&b'(') && !paren_open && plus {
            paren_open = true;
            j += 1;
            sep = b'(';
        }
        if sep == 0 || !buf.get(j).is_some_and(u8::is_ascii_digit) {
            break;
        }
        if groups <= seps.len() {
            seps[groups - 1] = sep;
        }
        i = j;
    }
    if paren_open {
        return None;
    }
    if end < buf.len() {
        let q = buf[end];
        if q.is_ascii_alphanumeric()
            || q == b'_'
            || ((q == b'-' || q == b'.' || q == b'/')
                && end + 1 < buf.len()
                && buf[end + 1].is_ascii_digit())
        {
            return None;
        }
    }
    let d = &digits[..k];
    if plus {
        // E.164 with separators: + country code, subscriber digits.
        if !(8..=15).contains(&k) || groups < 1 {
            return None;
        }
        if d[0] == b'1' && !(k == 11 && v::nanp_phone(d)) {
            // A NANP number reserved for fiction (555-0100 to 555-0199), as test and sample
            // data use: counted with a keyword only.
            return (k == 11 && v::nanp_fiction(d)).then_some((start, end, false));
        }
        if groups == 1 && k < 10 {
            return None;
        }
        return v::e164_phone(d).then_some((start, end, true));
    }
    // National: (ddd) ddd-dddd, ddd-ddd-dddd, ddd.ddd.dddd, ddd ddd dddd, dddddddddd; or other
    // national formats with 9–11 digits in 2+ groups (keyword needed).
    let nanp_like = |d: &[u8]| v::nanp_phone(d) || v::nanp_fiction(d);
    let nanp = k == 10 && nanp_like(d) && (groups == 1 || groups == 3);
    let nanp_with_1 = k == 11 && d[0] == b'1' && nanp_like(d) && groups == 4;
    // Every national number below needs a keyword (the caller's rule), and each is told by
    // its own country's grouping, so a run of digit groups in a log does not pass for one.
    let lens = &lens[..groups.min(lens.len())];
    // With a trunk 0 (UK, Germany, France, Italy's fixed lines, India, the Netherlands…):
    // 9 to 12 digits, grouped, or 10 to 12 written together (`07700900921`).
    let trunk = (9..=12).contains(&k) && d[0] == b'0' && (groups >= 2 || k >= 10);
    // Brazil: a two-digit area code (no 0), then 9 + 8 digits (mobile) or 2–5 + 7 digits
    // (fixed), the last four after a dash: `(11) 91234-5678`, `21 2139-7318`.
    let brazil = groups == 3
        && lens[0] == 2
        && lens[2] == 4
        && seps[1] == b'-'
        && d[0] != b'0'
        && d[1] != b'0'
        && ((lens[1] == 5 && d[2] == b'9') || (lens[1] == 4 && (b'2'..=b'5').contains(&d[2])));
    // Spain: nine digits, no trunk prefix, 6/7 (mobile) or 8/9 (fixed) first, in the
    // usual groupings `612 345 678`, `91 123 45 67`, `912 34 56 78`.
    let spain = k == 9
        && (b'6'..=b'9').contains(&d[0])
        && matches!(lens, [3, 3, 3] | [2, 3, 2, 2] | [3, 2, 2, 2]);
    // Italy's mobiles: ten digits from 3, `312 345 6789`, `333 1234567`.
    let italy = k == 10 && d[0] == b'3' && matches!(lens, [3, 3, 4] | [3, 7] | [3, 4, 3]);
    // India's mobiles: ten digits from 6–9 in two groups of five, `98765 43210`.
    let india = k == 10 && (b'6'..=b'9').contains(&d[0]) && lens == [5, 5];
    (nanp || nanp_with_1 || trunk || brazil || spain || italy || india)
        .then_some((start, end, false))
}

/// A latitude/longitude pair at the digit run `pos..pos+n`, e.g. `40.748817, -73.985428`.
fn match_latlong(buf: &[u8], pos: usize, n: usize) -> Option<(usize, usize)> {
    let neg = pos > 0 && buf[pos - 1] == b'-';
    let start = if neg { pos - 1 } else { pos };
    if n > 2 || buf.get(pos + n) != Some(&b'.') {
        return None;
    }
    let f1 = digits_at(buf, pos + n + 1, 3, 10)?;
    let mut i = f1;
    if buf.get(i) != Some(&b',') {
        return None;
    }
    i += 1;
    if buf.get(i) == Some(&b' ') {
        i += 1;
    }
    let s2 = i;
    if buf.get(i) == Some(&b'-') {
        i += 1;
    }
    let e2 = digits_at(buf, i, 1, 3)?;
    if buf.get(e2) != Some(&b'.') {
        return None;
    }
    let f2 = digits_at(buf, e2 + 1, 3, 10)?;
    // Numbers are parsed once the whole pair's layout is there (`07:00:55.205836` is not).
    let lat: f64 = std::str::from_utf8(&buf[start..f1]).ok()?.parse().ok()?;
    let lon: f64 = std::str::from_utf8(&buf[s2..f2]).ok()?.parse().ok()?;
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) && not_glued(buf, start, f2))
        .then_some((start, f2))
}

/// An e-mail address around the `@` at `at`.
fn match_email(buf: &[u8], at: usize) -> Option<(usize, usize)> {
    let is_local = |b: u8| b.is_ascii_alphanumeric() || b"._%+-'".contains(&b);
    let mut s = at;
    while s > 0 && is_local(buf[s - 1]) && at - s < 64 {
        s -= 1;
    }
    while s < at && (buf[s] == b'.' || buf[s] == b'\'' || buf[s] == b'-' || buf[s] == b'+') {
        s += 1;
    }
    if s == at || buf[at - 1] == b'.' {
        return None;
    }
    if s > 0 {
        let p = buf[s - 1];
        // user:password@host in a URL is a credential, not an address.
        if p == b':' && memchr::memmem::find(&buf[s.saturating_sub(100)..s], b"://").is_some() {
            return None;
        }
        if p == b'/' || p == b'\\' {
            return None;
        }
    }
    let mut e = at + 1;
    let mut last_dot = None;
    while e < buf.len()
        && (buf[e].is_ascii_alphanumeric() || buf[e] == b'-' || buf[e] == b'.')
        && e - at < 255
    {
        if buf[e] == b'.' {
            if buf[e - 1] == b'.' || buf[e - 1] == b'@' || buf[e - 1] == b'-' {
                return None;
            }
            last_dot = Some(e);
        }
        e += 1;
    }
    // Trailing dots end a sentence, not the domain.
    while e > at + 1 && (buf[e - 1] == b'.' || buf[e - 1] == b'-') {
        e -= 1;
        if last_dot == Some(e) {
            last_dot = buf[at + 1..e]
                .iter()
                .rposition(|&b| b == b'.')
                .map(|p| at + 1 + p);
        }
    }
    let dot = last_dot?;
    if dot >= e || buf[at + 1] == b'-' {
        return None;
    }
    let tld = &buf[dot + 1..e];
    if tld.len() < 2 || tld.len() > 24 || !tld.iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    let tld_lower = tld.to_ascii_lowercase();
    if matches!(
        tld_lower.as_slice(),
        b"png"
            | b"jpg"
            | b"jpeg"
            | b"gif"
            | b"svg"
            | b"webp"
            | b"css"
            | b"js"
            | b"ts"
            | b"map"
            | b"json"
            | b"html"
            | b"py"
            | b"rb"
            | b"go"
            | b"rs"
            | b"md"
            | b"txt"
            | b"zip"
            | b"gz"
    ) {
        return None;
    }
    Some((s, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_regexes_compile() {
        let config = ClassifierConfig {
            managed: crate::ManagedSelection {
                selection: SelectionMode::All,
                identifiers: Vec::new(),
            },
            ..ClassifierConfig::default()
        };
        let compiled = Compiled::new(&config).expect("the managed identifiers compile");
        let mut n = 0;
        for rule in compiled.rules.iter().filter(|r| r.pattern.is_some()) {
            let (regex, anchored) = (rule.regex(), rule.anchored());
            assert_eq!(
                regex.captures_len() > 1,
                rule.groups,
                "{}: capture groups",
                rule.ty_name()
            );
            assert_eq!(regex.captures_len(), anchored.captures_len());
            n += 1;
        }
        assert!(n > 50, "only {n} regex rules");
    }

    #[test]
    fn keyword_variants_cover_separators() {
        let v = keyword_variants("social security number");
        assert_eq!(
            v,
            [
                "social security number",
                "social securitynumber",
                "socialsecurity number",
                "socialsecuritynumber",
            ]
        );
        // `_` and `-` in the text are read as spaces; in a keyword they are spaces that must be there.
        assert_eq!(keyword_variants("x-api_key"), ["x api key"]);
        assert_eq!(keyword_byte(b'_'), b' ');
        assert_eq!(keyword_byte(b'-'), b' ');
        assert_eq!(keyword_byte(b'a'), b'a');
    }

    #[test]
    fn keywords_match_every_separator_spelling() {
        let config = ClassifierConfig::default();
        let compiled = Compiled::new(&config).expect("the default configuration compiles");
        let spellings: [&[u8]; 6] = [
            b"social security number",
            b"social_security_number",
            b"social-security-number",
            b"socialsecuritynumber",
            b"Social_Security number",
            b"SOCIAL-SECURITYNUMBER",
        ];
        // Run together, only the whole keyword has word boundaries: its rules are in every
        // spelling's set.
        let whole = compiled.keywords_in(b"socialsecuritynumber");
        assert_ne!(whole, RuleSet::default(), "the SSN keyword is found");
        for text in spellings {
            let mut with_whole = compiled.keywords_in(text);
            with_whole.union(&whole);
            assert_eq!(
                with_whole,
                compiled.keywords_in(text),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn next_digit_finds_first() {
        let s = b"abcdefghijklmnop7qrs";
        assert_eq!(next_digit(s, 0, s.len()), Some(16));
        assert_eq!(next_digit(b"no digits here at all", 0, 21), None);
        let hi = "ééééééé9".as_bytes();
        assert_eq!(next_digit(hi, 0, hi.len()), Some(hi.len() - 1));
        // Every byte value before a digit, in every lane (borrows must not flag early bytes).
        for b in 0..=255u8 {
            for lane in 0..8 {
                let mut buf = [b'x'; 16];
                buf[lane] = b;
                buf[lane + 1] = b'5';
                let want = (0..16).find(|&i| buf[i].is_ascii_digit());
                assert_eq!(next_digit(&buf, 0, 16), want, "byte {b} lane {lane}");
            }
        }
    }

    #[test]
    fn skip_word_matches_bytewise() {
        let text = b"ab12Z9_x 0Az~{@[`/:gG+QQQQQQQQQQQQQQQQQ\xc3\xa9zz9";
        for i in 0..text.len() {
            let mut want = i;
            while want < text.len() && text[want].is_ascii_alphanumeric() {
                want += 1;
            }
            assert_eq!(skip_word(text, i, text.len()), want, "from {i}");
        }
        for b in 0..=255u8 {
            let x = u64::from_le_bytes([b, b'a', b'a', b'a', b'a', b'a', b'a', b'a']);
            assert_eq!(
                alnum_mask(x) & 0x80 != 0,
                b.is_ascii_alphanumeric(),
                "byte {b}"
            );
        }
    }

    #[test]
    fn token_ranges_hold_every_long_run() {
        let mut texts: Vec<Vec<u8>> = vec![
            b"a bb ghp_0123456789abcdefABCDEF0123456789ab x.y-z+w/v=u_t0123456789 \
              tail0123456789abcdefgh"
                .to_vec(),
        ];
        // Runs of every length around every offset, separated by spaces or other bytes.
        let mut state: u32 = 7;
        for _ in 0..200 {
            let mut t = Vec::new();
            while t.len() < 300 {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let run = (state >> 16) as usize % 40;
                t.extend(std::iter::repeat_n(b'k', run));
                t.push([b' ', b'\n', b'"', 0xC3][(state >> 8) as usize % 4]);
            }
            texts.push(t);
        }
        let mut merged = 0;
        for text in &texts {
            let text = &text[..];
            // Maximal runs, byte by byte.
            let mut runs = Vec::new();
            let mut i = 0;
            while i < text.len() {
                if is_token_byte(text[i]) {
                    let s = i;
                    while i < text.len() && is_token_byte(text[i]) {
                        i += 1;
                    }
                    runs.push((s, i));
                } else {
                    i += 1;
                }
            }
            for min in 8..45 {
                for gap in [0, 16, 512] {
                    let mut got: Vec<(usize, usize)> = Vec::new();
                    for_each_token_range(text, min, gap, |s, e| got.push((s, e)));
                    assert!(
                        got.windows(2).all(|w| w[0].1 < w[1].0),
                        "{got:?}: not ordered and disjoint"
                    );
                    for &(s, e) in &got {
                        // A range opens at a long run and ends where a run ends.
                        assert!(runs.iter().any(|&(rs, re)| rs == s && re - rs >= min));
                        assert!(runs.iter().any(|&(_, re)| re == e));
                        let inside = runs.iter().filter(|&&(rs, re)| s <= rs && re <= e);
                        merged += usize::from(inside.count() > 1);
                    }
                    for &(rs, re) in runs.iter().filter(|(rs, re)| re - rs >= min) {
                        assert!(
                            got.iter().any(|&(s, e)| s <= rs && re <= e),
                            "run {rs}..{re} (min {min}, gap {gap}) in no range of {got:?}"
                        );
                    }
                }
            }
        }
        assert!(merged > 0, "some ranges hold several runs");
    }

    /// Asserts that bit 7 of each byte of `mask(x)` tells `is` of that byte, for every byte
    /// value in every lane.
    fn assert_mask_matches(mask: fn(u64) -> u64, is: impl Fn(u8) -> bool) {
        for b in 0..=255u8 {
            for lane in 0..8 {
                let mut bytes = [b' '; 8];
                bytes[lane] = b;
                let x = u64::from_le_bytes(bytes);
                assert_eq!(
                    (mask(x) >> (lane * 8 + 7)) & 1 == 1,
                    is(b),
                    "byte {b} in lane {lane}"
                );
            }
        }
    }

    #[test]
    fn aws_token_mask_matches_bytewise() {
        assert_mask_matches(aws_token_mask, |b| {
            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_' | b'.')
        });
    }

    #[test]
    fn token_mask_matches_table() {
        assert_mask_matches(token_mask, is_token_byte);
    }

    #[test]
    fn token_regexes() {
        let one = |p: &str| {
            let alts = alternatives_of(p);
            assert_eq!(alts.len(), 1, "{p}");
            alts[0].token_min
        };
        assert_eq!(one(r"ghp_[A-Za-z0-9]{36}"), Some(40));
        assert_eq!(one(r"\bxox[bp]-[0-9]{10,13}-[a-zA-Z0-9-]{24,}"), Some(40));
        assert_eq!(one(r"(?i:bearer)\s+[A-Za-z0-9]{8,}"), None);
        assert_eq!(one(r"mongodb://[^@]+@"), None);
        assert_eq!(one(r"[^\s]{20}"), None);
        let alts = alternatives_of(
            r"(?:tvly-[A-Za-z0-9]{32}|access_token\$production\$[a-z0-9]{16}:|key-[0-9a-f]{32})",
        );
        assert_eq!(alts.len(), 3);
        assert_eq!(alts[0].token_min, Some(37));
        assert_eq!(alts[1].token_min, None);
        let prefixes = alts[1].prefixes.as_ref().expect("literal prefixes");
        assert!(prefixes.iter().any(|p| p.starts_with(b"access_token$")));
    }

    #[test]
    fn month_names() {
        let month = |s: &str| month_at(s.as_bytes(), 0).map(|(m, _)| m);
        for (name, m) in [
            ("January", 1),
            ("Jänner", 1),
            ("gennaio", 1),
            ("FÉVRIER", 2),
            ("fevereiro", 2),
            ("März", 3),
            ("MÄRZ", 3),
            ("Mär", 3),
            ("março", 3),
            ("maart", 3),
            ("avril", 4),
            ("Mai", 5),
            ("mei", 5),
            ("juin", 6),
            ("giugno", 6),
            ("juillet", 7),
            ("luglio", 7),
            ("août", 8),
            ("aout", 8),
            ("Sept", 9),
            ("septiembre", 9),
            ("outubro", 10),
            ("Okt", 10),
            ("noviembre", 11),
            ("décembre", 12),
            ("Dezember", 12),
            ("dic", 12),
        ] {
            assert_eq!(month(name), Some(m), "{name}");
            assert_eq!(month(&format!("{name}, 1985")), Some(m), "{name}");
        }
        for word in [
            "Marchs",
            "marzipan",
            "people",
            "années",
            "decembers",
            "ma",
            "j",
        ] {
            assert_eq!(month(word), None, "{word}");
        }
        // A month name as a whole word ending at an index.
        assert_eq!(month_before(b"on M\xc3\xa4rz", 8), Some((3, 3)));
        assert_eq!(month_before(b"Summer", 6), None);
    }

    #[test]
    fn boundaries() {
        assert!(keyword_boundary(b"the ssn is", 4, 7));
        assert!(!keyword_boundary(b"hotel", 2, 5));
        assert!(keyword_boundary(b"customerPhone", 8, 13));
        assert!(keyword_boundary(b"phones:", 0, 5));
    }

    #[test]
    fn emails() {
        let b = b"mail jane.doe@example.co.uk.";
        assert_eq!(
            match_email(b, 13).map(|(s, e)| &b[s..e]),
            Some(&b"jane.doe@example.co.uk"[..])
        );
        let b = b"Comment: robert99@host";
        assert_eq!(match_email(b, 17), None);
    }
}
