//! Checksums and structural rules that confirm a candidate value.
//!
//! Every validator takes the candidate's significant characters (digits, and letters where the
//! format has them; separators already removed) and answers whether the value is well formed.
//! They are pure functions over bytes and allocate nothing.

/// Returns the digit values of `s`, or `None` if any byte is not an ASCII digit.
fn all_digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

/// Returns true if `s` (ASCII digits) passes the Luhn (mod 10) check.
pub(crate) fn luhn(s: &[u8]) -> bool {
    if !all_digits(s) {
        return false;
    }
    let mut sum = 0u32;
    for (i, &b) in s.iter().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// Returns true if every digit of `s` is the same (a common placeholder shape).
fn all_same(s: &[u8]) -> bool {
    s.windows(2).all(|w| w[0] == w[1])
}

/// Returns true if `s` is a strictly ascending or descending digit run such as `123456789`.
fn sequential(s: &[u8]) -> bool {
    s.len() > 3
        && (s.windows(2).all(|w| w[1] == w[0] + 1) || s.windows(2).all(|w| w[0] == w[1] + 1))
}

/// Returns true if `s` looks like a payment card number: 13–19 digits, a known issuer prefix
/// whose length matches, and a valid Luhn check digit.
pub(crate) fn credit_card(s: &[u8]) -> bool {
    if !all_digits(s) || !(13..=19).contains(&s.len()) || all_same(s) {
        return false;
    }
    let n = s.len();
    let p = |k: usize| -> u32 {
        s[..k]
            .iter()
            .fold(0u32, |acc, &b| acc * 10 + u32::from(b - b'0'))
    };
    let ok = match s[0] {
        // Visa.
        b'4' => matches!(n, 13 | 16 | 19),
        // Mastercard (51–55, 2221–2720), Maestro (50, 56–58, 6759…).
        b'5' => {
            let p2 = p(2);
            ((51..=55).contains(&p2) && n == 16)
                || ((56..=58).contains(&p2) || p2 == 50) && (12..=19).contains(&n)
        }
        b'2' => {
            let p4 = p(4);
            ((2221..=2720).contains(&p4) && n == 16) || (p4 / 10 == 220 && (16..=19).contains(&n))
        }
        // American Express (34, 37), Diners (30, 36, 38, 39), JCB (3528–3589).
        b'3' => {
            let p2 = p(2);
            let p4 = p(4);
            ((p2 == 34 || p2 == 37) && n == 15)
                || ((p2 == 36 || p2 == 38 || p2 == 39 || (300..=305).contains(&p(3)))
                    && (14..=19).contains(&n))
                || ((3528..=3589).contains(&p4) && (16..=19).contains(&n))
        }
        // Discover (6011, 644–649, 65, 622126–622925), UnionPay (62), Maestro (6…), Elo's
        // 636297 and 636368 (its other ranges fall in 4, 50, 509, 627 and 65).
        b'6' => {
            let p2 = p(2);
            let p3 = p(3);
            let p4 = p(4);
            (p4 == 6011
                || (644..=649).contains(&p3)
                || p2 == 65
                || p2 == 62
                || p4 == 6304
                || p4 == 6759
                || p4 == 6761
                || p4 == 6762
                || p4 == 6763
                || (n == 16 && matches!(p(6), 636297 | 636368)))
                && (16..=19).contains(&n)
        }
        // UATP.
        b'1' => n == 15,
        _ => false,
    };
    ok && luhn(s)
}

/// Returns true if `s` (IBAN characters, no spaces, upper case) has the length its country
/// requires and passes the ISO 7064 mod-97 check.
pub(crate) fn iban(s: &[u8]) -> bool {
    if s.len() < 15 || s.len() > 34 {
        return false;
    }
    if !s[0].is_ascii_uppercase()
        || !s[1].is_ascii_uppercase()
        || !s[2].is_ascii_digit()
        || !s[3].is_ascii_digit()
    {
        return false;
    }
    match iban_length(&s[..2]) {
        Some(len) if len == s.len() => {}
        _ => return false,
    }
    if !s[4..]
        .iter()
        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        return false;
    }
    // Check digits are 02–98 by construction (98 - n mod 97).
    let check = (s[2] - b'0') * 10 + (s[3] - b'0');
    if !(2..=98).contains(&check) {
        return false;
    }
    // The BBAN must not be all zeros.
    if s[4..].iter().all(|&b| b == b'0') {
        return false;
    }
    let mut rem: u32 = 0;
    for &b in s[4..].iter().chain(&s[..4]) {
        if b.is_ascii_digit() {
            rem = (rem * 10 + u32::from(b - b'0')) % 97;
        } else {
            let v = u32::from(b - b'A') + 10;
            rem = (rem * 100 + v) % 97;
        }
    }
    rem == 1
}

/// Returns the IBAN length of a country code, per the SWIFT IBAN registry.
pub(crate) fn iban_length(cc: &[u8]) -> Option<usize> {
    Some(match cc {
        b"AD" => 24,
        b"AE" => 23,
        b"AL" => 28,
        b"AT" => 20,
        b"AZ" => 28,
        b"BA" => 20,
        b"BE" => 16,
        b"BG" => 22,
        b"BH" => 22,
        b"BR" => 29,
        b"BY" => 28,
        b"CH" => 21,
        b"CR" => 22,
        b"CY" => 28,
        b"CZ" => 24,
        b"DE" => 22,
        b"DK" => 18,
        b"DO" => 28,
        b"EE" => 20,
        b"EG" => 29,
        b"ES" => 24,
        b"FI" => 18,
        b"FO" => 18,
        b"FR" => 27,
        b"GB" => 22,
        b"GE" => 22,
        b"GI" => 23,
        b"GL" => 18,
        b"GR" => 27,
        b"GT" => 28,
        b"HR" => 21,
        b"HU" => 28,
        b"IE" => 22,
        b"IL" => 23,
        b"IQ" => 23,
        b"IS" => 26,
        b"IT" => 27,
        b"JO" => 30,
        b"KW" => 30,
        b"KZ" => 20,
        b"LB" => 28,
        b"LC" => 32,
        b"LI" => 21,
        b"LT" => 20,
        b"LU" => 20,
        b"LV" => 21,
        b"MC" => 27,
        b"MD" => 24,
        b"ME" => 22,
        b"MK" => 19,
        b"MR" => 27,
        b"MT" => 31,
        b"MU" => 30,
        b"NL" => 18,
        b"NO" => 15,
        b"PK" => 24,
        b"PL" => 28,
        b"PS" => 29,
        b"PT" => 25,
        b"QA" => 29,
        b"RO" => 24,
        b"RS" => 22,
        b"SA" => 24,
        b"SC" => 31,
        b"SE" => 24,
        b"SI" => 19,
        b"SK" => 24,
        b"SM" => 27,
        b"ST" => 25,
        b"SV" => 28,
        b"TL" => 23,
        b"TN" => 24,
        b"TR" => 26,
        b"UA" => 29,
        b"VA" => 22,
        b"VG" => 24,
        b"XK" => 20,
        _ => return None,
    })
}

/// Returns the Macie identifier name for an IBAN country, e.g. `GERMANY_BANK_ACCOUNT_NUMBER`.
pub(crate) fn iban_country_identifier(cc: &[u8]) -> &'static str {
    match cc {
        b"AT" => "AUSTRIA_BANK_ACCOUNT_NUMBER",
        b"BE" => "BELGIUM_BANK_ACCOUNT_NUMBER",
        b"BG" => "BULGARIA_BANK_ACCOUNT_NUMBER",
        b"HR" => "CROATIA_BANK_ACCOUNT_NUMBER",
        b"CY" => "CYPRUS_BANK_ACCOUNT_NUMBER",
        b"CZ" => "CZECHIA_BANK_ACCOUNT_NUMBER",
        b"DK" => "DENMARK_BANK_ACCOUNT_NUMBER",
        b"EE" => "ESTONIA_BANK_ACCOUNT_NUMBER",
        b"FI" => "FINLAND_BANK_ACCOUNT_NUMBER",
        b"FR" => "FRANCE_BANK_ACCOUNT_NUMBER",
        b"DE" => "GERMANY_BANK_ACCOUNT_NUMBER",
        b"GR" => "GREECE_BANK_ACCOUNT_NUMBER",
        b"HU" => "HUNGARY_BANK_ACCOUNT_NUMBER",
        b"IE" => "IRELAND_BANK_ACCOUNT_NUMBER",
        b"IT" => "ITALY_BANK_ACCOUNT_NUMBER",
        b"LV" => "LATVIA_BANK_ACCOUNT_NUMBER",
        b"LT" => "LITHUANIA_BANK_ACCOUNT_NUMBER",
        b"LU" => "LUXEMBOURG_BANK_ACCOUNT_NUMBER",
        b"MT" => "MALTA_BANK_ACCOUNT_NUMBER",
        b"NL" => "NETHERLANDS_BANK_ACCOUNT_NUMBER",
        b"PL" => "POLAND_BANK_ACCOUNT_NUMBER",
        b"PT" => "PORTUGAL_BANK_ACCOUNT_NUMBER",
        b"RO" => "ROMANIA_BANK_ACCOUNT_NUMBER",
        b"SK" => "SLOVAKIA_BANK_ACCOUNT_NUMBER",
        b"SI" => "SLOVENIA_BANK_ACCOUNT_NUMBER",
        b"ES" => "SPAIN_BANK_ACCOUNT_NUMBER",
        b"SE" => "SWEDEN_BANK_ACCOUNT_NUMBER",
        b"CH" => "SWITZERLAND_BANK_ACCOUNT_NUMBER",
        b"GB" => "UK_BANK_ACCOUNT_NUMBER",
        b"NO" => "NORWAY_BANK_ACCOUNT_NUMBER",
        b"IS" => "ICELAND_BANK_ACCOUNT_NUMBER",
        b"LI" => "LIECHTENSTEIN_BANK_ACCOUNT_NUMBER",
        b"MC" => "MONACO_BANK_ACCOUNT_NUMBER",
        b"SM" => "SAN_MARINO_BANK_ACCOUNT_NUMBER",
        b"BR" => "BRAZIL_BANK_ACCOUNT_NUMBER",
        b"TR" => "TURKEY_BANK_ACCOUNT_NUMBER",
        b"SA" => "SAUDI_ARABIA_BANK_ACCOUNT_NUMBER",
        b"AE" => "UAE_BANK_ACCOUNT_NUMBER",
        b"IL" => "ISRAEL_BANK_ACCOUNT_NUMBER",
        _ => "IBAN_BANK_ACCOUNT_NUMBER",
    }
}

/// Returns true if `s` is a valid US Social Security number: area not 000, 666 or 900–999,
/// group not 00, serial not 0000, and not a well-known advertising number.
pub(crate) fn us_ssn(s: &[u8]) -> bool {
    if s.len() != 9 || !all_digits(s) {
        return false;
    }
    let area = &s[..3];
    if area == b"000" || area == b"666" || area[0] == b'9' {
        return false;
    }
    if &s[3..5] == b"00" || &s[5..] == b"0000" {
        return false;
    }
    // Woolworth's wallet card and the 1960s advertising block.
    if s == b"078051120" || s == b"219099999" || (area == b"987" && &s[3..5] == b"65") {
        return false;
    }
    !all_same(s) && !sequential(s)
}

/// Returns true if `s` is a valid US ITIN: starts with 9 and its group is 50–65, 70–88, 90–92
/// or 94–99.
pub(crate) fn us_itin(s: &[u8]) -> bool {
    if s.len() != 9 || !all_digits(s) || s[0] != b'9' {
        return false;
    }
    let g = u32::from(s[3] - b'0') * 10 + u32::from(s[4] - b'0');
    matches!(g, 50..=65 | 70..=88 | 90..=92 | 94..=99)
}

/// Returns true if `s` is a valid NHS number (10 digits, mod-11 check digit).
pub(crate) fn uk_nhs(s: &[u8]) -> bool {
    if s.len() != 10 || !all_digits(s) || all_same(s) {
        return false;
    }
    let sum: u32 = s[..9]
        .iter()
        .enumerate()
        .map(|(i, &b)| u32::from(b - b'0') * (10 - i as u32))
        .sum();
    let check = 11 - (sum % 11);
    let check = match check {
        11 => 0,
        10 => return false,
        c => c,
    };
    check == u32::from(s[9] - b'0')
}

/// Returns true if `s` (9 letters and digits, upper case) is a UK National Insurance number.
pub(crate) fn uk_nino(s: &[u8]) -> bool {
    if s.len() != 9 {
        return false;
    }
    let (a, b) = (s[0], s[1]);
    if !a.is_ascii_uppercase() || !b.is_ascii_uppercase() || !s[2..8].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    if b"DFIQUV".contains(&a) || b"DFIOQUV".contains(&b) {
        return false;
    }
    let prefix = &s[..2];
    if [b"BG", b"GB", b"NK", b"KN", b"TN", b"NT", b"ZZ"]
        .iter()
        .any(|p| prefix == *p)
    {
        return false;
    }
    matches!(s[8], b'A'..=b'D')
}

/// Returns true if `s` is a valid Canadian Social Insurance Number (9 digits, Luhn, not
/// starting with 0 or 8).
pub(crate) fn canada_sin(s: &[u8]) -> bool {
    s.len() == 9 && all_digits(s) && s[0] != b'0' && s[0] != b'8' && !all_same(s) && luhn(s)
}

const VERHOEFF_D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const VERHOEFF_P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

/// Returns true if `s` (ASCII digits) passes the Verhoeff check.
pub(crate) fn verhoeff(s: &[u8]) -> bool {
    if !all_digits(s) {
        return false;
    }
    let mut c = 0u8;
    for (i, &b) in s.iter().rev().enumerate() {
        c = VERHOEFF_D[c as usize][VERHOEFF_P[i % 8][(b - b'0') as usize] as usize];
    }
    c == 0
}

/// Returns true if `s` is a valid Aadhaar number: 12 digits, first digit 2–9, Verhoeff.
pub(crate) fn india_aadhaar(s: &[u8]) -> bool {
    s.len() == 12 && all_digits(s) && s[0] >= b'2' && !all_same(s) && verhoeff(s)
}

/// Returns true if `s` is a valid Brazilian CPF (11 digits, two mod-11 check digits).
pub(crate) fn brazil_cpf(s: &[u8]) -> bool {
    if s.len() != 11 || !all_digits(s) || all_same(s) {
        return false;
    }
    let d: Vec<u32> = s.iter().map(|&b| u32::from(b - b'0')).collect();
    let check = |n: usize| -> u32 {
        let sum: u32 = (0..n).map(|i| d[i] * (n as u32 + 1 - i as u32)).sum();
        let r = (sum * 10) % 11;
        if r == 10 { 0 } else { r }
    };
    check(9) == d[9] && check(10) == d[10]
}

/// Returns true if `s` is a valid Spanish DNI (8 digits and the mod-23 control letter) or NIE
/// (X, Y or Z, 7 digits and the control letter).
pub(crate) fn spain_dni(s: &[u8]) -> bool {
    const LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    if s.len() != 9 {
        return false;
    }
    let lead = match s[0] {
        b'X' => 0,
        b'Y' => 1,
        b'Z' => 2,
        b'0'..=b'9' => u32::from(s[0] - b'0'),
        _ => return false,
    };
    if !s[1..8].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let n = s[1..8]
        .iter()
        .fold(lead, |acc, &b| acc * 10 + u32::from(b - b'0'));
    if s[..8].iter().all(|&b| b == b'0') {
        return false;
    }
    LETTERS[(n % 23) as usize] == s[8].to_ascii_uppercase()
}

/// Returns true if `s` is a plausible US passport number: 8 or 9 digits, or a letter and 8 digits.
pub(crate) fn us_passport(s: &[u8]) -> bool {
    if s.len() != 9 && s.len() != 8 {
        return false;
    }
    let digits = if s[0].is_ascii_uppercase() {
        &s[1..]
    } else {
        s
    };
    all_digits(digits) && !all_same(digits) && !sequential(digits)
}

/// Returns true if `s` is a plausible US or Canadian bank account number (not a run of one digit
/// or a counting sequence).
pub(crate) fn bank_account(s: &[u8]) -> bool {
    all_digits(s) && !all_same(s) && !sequential(s)
}

/// Returns true if `s` (digits of a date, e.g. `19800412`) in year-month-day order is a real
/// calendar date from 1900 up to 2030.
pub(crate) fn ymd(y: u32, m: u32, d: u32) -> bool {
    if !(1900..=2030).contains(&y) || !(1..=12).contains(&m) || d == 0 {
        return false;
    }
    let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    d <= days
}

/// Returns true if `s` is a North American phone number (10 digits with area and exchange codes
/// starting 2–9), or with a leading country code 1.
pub(crate) fn nanp_phone(s: &[u8]) -> bool {
    let s = if s.len() == 11 && s[0] == b'1' {
        &s[1..]
    } else {
        s
    };
    s.len() == 10
        && all_digits(s)
        && s[0] >= b'2'
        && s[3] >= b'2'
        && !all_same(s)
        && &s[3..6] != b"555"
        || s.len() == 10
            && all_digits(s)
            && s[0] >= b'2'
            && s[3] >= b'2'
            && &s[3..6] == b"555"
            && &s[6..8] != b"01"
}

/// Returns true if `s` is a UK (DVLA) driving licence number: five surname characters
/// (letters, then 9s padding a short name), six date-of-birth digits (decade, month with 50
/// added for women, day, year) that make a real day, two initials (a letter, then a letter or
/// 9; or 99), a digit and two check characters (letters or digits).
pub(crate) fn uk_driving_licence(s: &[u8]) -> bool {
    if s.len() != 16 {
        return false;
    }
    let up = |b: u8| b.is_ascii_uppercase();
    let padded = |t: &[u8]| {
        let k = t.iter().take_while(|&&b| up(b)).count();
        t[k..].iter().all(|&b| b == b'9')
    };
    let two = |a: u8, b: u8| u32::from(a - b'0') * 10 + u32::from(b - b'0');
    if !up(s[0]) || !padded(&s[..5]) || !s[5..11].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let month = two(s[6], s[7]) % 50;
    let day = two(s[8], s[9]);
    let days = match month {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    (1..=12).contains(&month)
        && two(s[6], s[7]) <= 62
        && (1..=days).contains(&day)
        && (up(s[11]) || &s[11..13] == b"99")
        && padded(&s[11..13])
        && s[13].is_ascii_digit()
        && s[14..].iter().all(|&b| up(b) || b.is_ascii_digit())
}

/// Returns true if `s` is a NANP number (ten digits, or eleven from 1) in the range reserved
/// for fiction, 555-0100 to 555-0199, which test and sample data use.
pub(crate) fn nanp_fiction(s: &[u8]) -> bool {
    let s = if s.len() == 11 && s[0] == b'1' {
        &s[1..]
    } else {
        s
    };
    s.len() == 10 && all_digits(s) && s[0] >= b'2' && &s[3..8] == b"55501"
}

/// Returns true if `s` is an international phone number in E.164: country code then a
/// subscriber number, 8 to 15 digits in all.
pub(crate) fn e164_phone(s: &[u8]) -> bool {
    all_digits(s) && (8..=15).contains(&s.len()) && s[0] != b'0' && !all_same(&s[1..])
}

/// The value of a run of ASCII digits (at most 19 of them).
fn decimal(s: &[u8]) -> u64 {
    s.iter().fold(0, |n, &b| n * 10 + u64::from(b - b'0'))
}

/// Returns true if `s` (15 characters) is a valid French NIR (INSEE number): sex (1, 2, or 7, 8
/// for a provisional number), year, month (01–12, 20–42 or 50–99 when unknown), department
/// (digits, or 2A / 2B for Corsica), commune, order and the key `97 - (number mod 97)`, where
/// Corsica's 2A counts as 19 and 2B as 18.
pub(crate) fn france_nir(s: &[u8]) -> bool {
    if s.len() != 15 || !matches!(s[0], b'1' | b'2' | b'7' | b'8') {
        return false;
    }
    let corsica = match &s[5..7] {
        [b'2', b'A' | b'a'] => Some(19),
        [b'2', b'B' | b'b'] => Some(18),
        _ => None,
    };
    if !all_digits(&s[..5]) || !all_digits(&s[7..]) || corsica.is_none() && !all_digits(&s[5..7]) {
        return false;
    }
    let month = decimal(&s[3..5]);
    if !matches!(month, 1..=12 | 20..=42 | 50..=99) {
        return false;
    }
    let dept = corsica.unwrap_or_else(|| decimal(&s[5..7]));
    let n = decimal(&s[..5]) * 100_000_000 + dept * 1_000_000 + decimal(&s[7..13]);
    let key = decimal(&s[13..15]);
    key == 97 - n % 97
}

/// Returns true if `s` (16 characters, either case) is a valid Italian codice fiscale: six
/// letters for the names, the year, the month letter, the day (plus 40 for women), the
/// municipality code and the check letter; digits may be replaced by `LMNPQRSTUV`
/// (omocodia).
pub(crate) fn italy_codice_fiscale(s: &[u8]) -> bool {
    const ODD: [u32; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23,
    ];
    const OMOCODIA: &[u8; 10] = b"LMNPQRSTUV";
    if s.len() != 16 || !s.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let up: Vec<u8> = s.iter().map(u8::to_ascii_uppercase).collect();
    // The digit positions, with omocodia undone.
    let digit = |i: usize| -> Option<u32> {
        let b = up[i];
        if b.is_ascii_digit() {
            Some(u32::from(b - b'0'))
        } else {
            OMOCODIA.iter().position(|&c| c == b).map(|k| k as u32)
        }
    };
    let letters = [0, 1, 2, 3, 4, 5, 8, 11, 15];
    if letters.iter().any(|&i| !up[i].is_ascii_uppercase()) {
        return false;
    }
    let mut digits = [0u32; 16];
    for i in [6, 7, 9, 10, 12, 13, 14] {
        match digit(i) {
            Some(d) => digits[i] = d,
            None => return false,
        }
    }
    if !b"ABCDEHLMPRST".contains(&up[8]) {
        return false;
    }
    let day = digits[9] * 10 + digits[10];
    if !matches!(day, 1..=31 | 41..=71) {
        return false;
    }
    let value = |c: u8| -> u32 {
        if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c - b'A')
        }
    };
    let sum: u32 = up[..15]
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if i % 2 == 0 {
                ODD[value(c) as usize]
            } else {
                value(c)
            }
        })
        .sum();
    up[15] == b'A' + (sum % 26) as u8
}

/// Returns true if `s` (12 digits) is a valid Spanish social security number: province (01–53
/// or 66), number and two control digits, `(province * 10^8 + number) mod 97` (for a number
/// below 10^7, also `number + province * 10^7`).
pub(crate) fn spain_nss(s: &[u8]) -> bool {
    if s.len() != 12 || !all_digits(s) {
        return false;
    }
    let province = decimal(&s[..2]);
    if !matches!(province, 1..=53 | 66) {
        return false;
    }
    let number = decimal(&s[2..10]);
    let control = decimal(&s[10..]);
    (province * 100_000_000 + number) % 97 == control
        || number < 10_000_000 && (number + province * 10_000_000) % 97 == control
}

/// Returns true if `s` (14 digits) is a valid Brazilian CNPJ: two mod-11 check digits.
pub(crate) fn brazil_cnpj(s: &[u8]) -> bool {
    if s.len() != 14 || !all_digits(s) || all_same(s) {
        return false;
    }
    let check = |n: usize| -> u8 {
        // Weights 2..9 from the right, repeated.
        let sum: u32 = (0..n)
            .map(|i| u32::from(s[n - 1 - i] - b'0') * (2 + (i as u32 % 8)))
            .sum();
        let r = sum % 11;
        if r < 2 { b'0' } else { b'0' + (11 - r) as u8 }
    };
    check(12) == s[12] && check(13) == s[13]
}

/// Returns true if `s` (10 characters) is a German identity card (Personalausweis) number: a
/// serial of nine characters (digits, or from 2010 letters of `CFGHJKLMNPRTVWXYZ` too) and a
/// check digit, weights 7, 3, 1 with a letter counting as its position plus 9 (A = 10).
pub(crate) fn germany_id_card(s: &[u8]) -> bool {
    if s.len() != 10 || !s[9].is_ascii_digit() {
        return false;
    }
    let mut sum = 0u32;
    for (i, &c) in s[..9].iter().enumerate() {
        let v = match c.to_ascii_uppercase() {
            b'0'..=b'9' => u32::from(c - b'0'),
            c @ (b'C' | b'F' | b'G' | b'H' | b'J' | b'K' | b'L' | b'M' | b'N' | b'P' | b'R'
            | b'T' | b'V' | b'W' | b'X' | b'Y' | b'Z') => u32::from(c - b'A') + 10,
            _ => return false,
        };
        sum += v * [7, 3, 1][i % 3];
    }
    sum % 10 == u32::from(s[9] - b'0')
}

/// [`germany_id_card`] as printed on the card: upper-case letters only.
pub(crate) fn germany_id_card_printed(s: &[u8]) -> bool {
    !s.iter().any(u8::is_ascii_lowercase) && germany_id_card(s)
}

/// Returns true if `s` (11 digits) is a valid German tax identification number (Steuer-ID):
/// no leading zero, one digit of the first ten twice or three times and the others at most
/// once, and an ISO 7064 MOD 11,10 check digit.
pub(crate) fn germany_tax_id(s: &[u8]) -> bool {
    if s.len() != 11 || !all_digits(s) || s[0] == b'0' {
        return false;
    }
    let mut counts = [0u8; 10];
    for &b in &s[..10] {
        counts[usize::from(b - b'0')] += 1;
    }
    let mut repeated = counts.iter().filter(|&&c| c > 1);
    if !matches!((repeated.next(), repeated.next()), (Some(2 | 3), None)) {
        return false;
    }
    let mut p = 10u32;
    for &b in &s[..10] {
        let mut t = (u32::from(b - b'0') + p) % 10;
        if t == 0 {
            t = 10;
        }
        p = (2 * t) % 11;
    }
    let check = (11 - p) % 10;
    check == u32::from(s[10] - b'0')
}

/// Returns true if `s` (13 digits) is a valid French tax number (numéro fiscal, SPI): first
/// digit 0–3, the last three the first ten mod 511.
pub(crate) fn france_tax_id(s: &[u8]) -> bool {
    s.len() == 13 && all_digits(s) && s[0] <= b'3' && decimal(&s[..10]) % 511 == decimal(&s[10..])
}

/// Returns the Shannon entropy of `s` in bits per byte.
pub(crate) fn entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let n = s.len() as f64;
    // H = log2(n) - (1/n) * sum(c * log2(c)) over the byte counts c, summed in ascending
    // byte order over the range of byte values seen.
    let mut counts = [0u32; 256];
    let (mut lo, mut hi) = (u8::MAX, 0u8);
    for &b in s {
        counts[b as usize] += 1;
        lo = lo.min(b);
        hi = hi.max(b);
    }
    let mut sum = 0.0;
    for &c in &counts[lo as usize..=hi as usize] {
        if c > 1 {
            sum += c_log2_c(c);
        }
    }
    n.log2() - sum / n
}

/// `c * log2(c)`, from a table for the counts of tokens up to a few hundred bytes.
fn c_log2_c(c: u32) -> f64 {
    fn exact(c: u32) -> f64 {
        let c = f64::from(c);
        c * c.log2()
    }
    static TABLE: std::sync::LazyLock<Vec<f64>> =
        std::sync::LazyLock::new(|| (0..=512u32).map(exact).collect());
    TABLE.get(c as usize).copied().unwrap_or_else(|| exact(c))
}

/// Placeholder words that mark a token as an example rather than a secret (lower case).
const PLACEHOLDERS: &[&[u8]] = &[
    b"example",
    b"xxxxxx",
    b"your",
    b"placeholder",
    b"sample",
    b"dummy",
    b"redacted",
    b"changeme",
    b"******",
    b"<",
    b"${",
    b"{{",
];

/// For each byte, lower-cased, the placeholders (bits indexing `PLACEHOLDERS`) that start with it.
static PLACEHOLDER_FIRSTS: [u16; 256] = {
    assert!(PLACEHOLDERS.len() <= 16);
    let mut t = [0u16; 256];
    let mut k = 0;
    while k < PLACEHOLDERS.len() {
        t[PLACEHOLDERS[k][0] as usize] |= 1 << k;
        k += 1;
    }
    t
};

/// Returns whether `s` contains a placeholder word (ASCII case-insensitive), without allocating.
pub(crate) fn has_placeholder(s: &[u8]) -> bool {
    for i in 0..s.len() {
        let mut firsts = PLACEHOLDER_FIRSTS[usize::from(s[i].to_ascii_lowercase())];
        while firsts != 0 {
            let p = PLACEHOLDERS[firsts.trailing_zeros() as usize];
            if s.len() - i >= p.len() && s[i..i + p.len()].eq_ignore_ascii_case(p) {
                return true;
            }
            firsts &= firsts - 1;
        }
    }
    false
}

/// Returns whether `v` holds a `<placeholder>`: `<` and then `>` with only letters, digits,
/// spaces, `_`, `-` or `.` between them (`<your token>`, `pre-<ENV>-key`). A `<` or `>` among
/// a random password's symbols (`1hhXii<:<;Bu@9,dDz7g`) is not one.
fn has_angle_placeholder(v: &[u8]) -> bool {
    let mut open = None;
    for (i, &b) in v.iter().enumerate() {
        match b {
            b'<' => open = Some(i),
            b'>' => {
                if open.is_some_and(|o| i > o + 1) {
                    return true;
                }
                open = None;
            }
            _ if b.is_ascii_alphanumeric() || matches!(b, b' ' | b'_' | b'-' | b'.') => {}
            _ => open = None,
        }
    }
    false
}

/// Returns whether an assigned value looks like a real secret rather than a placeholder, a
/// variable, an expression or a word. `strict` also requires a random-looking token.
pub(crate) fn secret_value(v: &[u8], strict: bool) -> bool {
    if !(6..=128).contains(&v.len()) {
        return false;
    }
    if matches!(
        v[0],
        b'$' | b'%'
            | b'{'
            | b'<'
            | b'#'
            | b'@'
            | b'&'
            | b'('
            | b'['
            | b'/'
            | b'.'
            | b'\\'
            | b'+'
            | b','
    ) {
        return false;
    }
    if v.iter().filter(|&&b| b == b' ').count() >= 2 || v.iter().any(|&b| b < 0x20) {
        return false;
    }
    const NOT_SECRETS: &[&[u8]] = &[
        b"${",
        b"{{",
        b"}}",
        b"%s",
        b"%(",
        b"()",
        b"password",
        b"passwd",
        b"secret",
        b"changeme",
        b"change_me",
        b"change-me",
        b"example",
        b"sample",
        b"placeholder",
        b"your",
        b"dummy",
        b"redacted",
        b"xxxx",
        b"****",
        b"....",
        b"test",
        b"fake",
        b"todo",
        b"tbd",
        b"null",
        b"none",
        b"undefined",
        b"not-set",
        b"not_set",
        b"notset",
        b"empty",
        b"default",
        b"process.env",
        b"environ",
        b"getenv",
        b"://",
        b"insert",
        b"enter",
        b"replace",
        b"abc123",
        b"abcdefgh",
        b"123456",
        b"qwerty",
        b"letmein",
        b"admin",
        b"token",
        b"string",
    ];
    static NOT_SECRETS_AC: std::sync::LazyLock<aho_corasick::AhoCorasick> =
        std::sync::LazyLock::new(|| {
            aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(NOT_SECRETS)
                .expect("placeholder words compile")
        });
    if NOT_SECRETS_AC.is_match(v) || has_angle_placeholder(v) {
        return false;
    }
    // A dotted or called reference (`config.db.pass`, `os.Getenv`), a boolean or a number.
    let letters = v.iter().filter(|b| b.is_ascii_alphabetic()).count();
    let digits = v.iter().filter(|b| b.is_ascii_digit()).count();
    let symbols = v.len() - letters - digits;
    if v.iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        && v.contains(&b'.')
        && letters > 0
    {
        return false;
    }
    if letters == 0 || v.iter().all(|&b| b.is_ascii_uppercase() || b == b'_') {
        return false; // numbers, and CONSTANT_NAMES
    }
    let mut run = 1;
    for w in v.windows(2) {
        run = if w[0] == w[1] { run + 1 } else { 1 };
        if run >= 4 {
            return false;
        }
    }
    if strict {
        return v.len() >= 12 && digits > 0 && looks_random(v);
    }
    // A lower-case word alone is a weak signal; keep it when long.
    digits + symbols > 0 || v.len() >= 8
}

/// Returns true if a token looks random rather than a placeholder: no placeholder word, no
/// long run of one character, and enough entropy.
pub(crate) fn looks_random(s: &[u8]) -> bool {
    if s.len() < 8 || has_placeholder(s) {
        return false;
    }
    let mut longest = 1;
    let mut run = 1;
    for w in s.windows(2) {
        if w[0] == w[1] {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 1;
        }
    }
    if longest >= 6 {
        return false;
    }
    entropy(s) >= 3.0
}

/// Returns true if `s` (11 characters, dashes removed) is a US Medicare Beneficiary Identifier
/// as CMS lays it out: position 1 a digit 1–9; 2, 5, 8 and 9 a letter; 3 and 6 a letter or
/// digit; 4, 7, 10 and 11 a digit; the letters upper case and never S, L, O, I, B or Z.
pub(crate) fn us_mbi(s: &[u8]) -> bool {
    if s.len() != 11 {
        return false;
    }
    let letter =
        |b: u8| b.is_ascii_uppercase() && !matches!(b, b'S' | b'L' | b'O' | b'I' | b'B' | b'Z');
    let digit = |b: u8| b.is_ascii_digit();
    (b'1'..=b'9').contains(&s[0])
        && [1, 4, 7, 8].iter().all(|&i| letter(s[i]))
        && [2, 5].iter().all(|&i| letter(s[i]) || digit(s[i]))
        && [3, 6, 9, 10].iter().all(|&i| digit(s[i]))
}

/// Returns true if `s` is a US National Provider Identifier: ten digits from 1 or 2 whose last
/// is the Luhn check digit of the card-issuer prefix 80840 followed by the first nine.
pub(crate) fn us_npi(s: &[u8]) -> bool {
    if s.len() != 10 || !matches!(s[0], b'1' | b'2') || !all_digits(s) || all_same(&s[1..]) {
        return false;
    }
    let mut full = *b"80840__________";
    full[5..].copy_from_slice(s);
    luhn(&full)
}

/// Returns true if `s` is a US DEA registration number: a registrant-type letter, the first
/// letter of the registrant's surname (or 9 for a business), then seven digits whose last is
/// (d1 + d3 + d5 + 2 × (d2 + d4 + d6)) mod 10.
pub(crate) fn us_dea(s: &[u8]) -> bool {
    if s.len() != 9
        || !b"ABCDEFGHJKLMPRSTUX".contains(&s[0])
        || !(s[1].is_ascii_uppercase() || s[1] == b'9')
        || !all_digits(&s[2..])
    {
        return false;
    }
    let d = |i: usize| u32::from(s[2 + i] - b'0');
    let odd = d(0) + d(2) + d(4);
    let even = d(1) + d(3) + d(5);
    (odd + 2 * even) % 10 == d(6) && !all_same(&s[2..8])
}

/// Returns true if `s` is a US Health Insurance Claim Number (the Medicare number before the
/// MBI): a nine-digit claim account number (the wage earner's SSN, so valid as one) and a
/// beneficiary identification code, a letter (A, B, C, D, E, F, G, H, J, K, M, T or W)
/// optionally followed by a digit 1–9 or a letter.
pub(crate) fn us_hicn(s: &[u8]) -> bool {
    if !(10..=11).contains(&s.len()) || !us_ssn(&s[..9]) || !b"ABCDEFGHJKMTW".contains(&s[9]) {
        return false;
    }
    match s.get(10) {
        None => !matches!(s[9], b'C' | b'F' | b'J' | b'K'),
        Some(&b) => (b'1'..=b'9').contains(&b) || b.is_ascii_uppercase(),
    }
}

/// Returns the CRC-32 (IEEE 802.3, as zlib computes it) of `s`.
pub(crate) fn crc32(s: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in s {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Returns true if a GitHub-style token (`ghp_…`, `npm_…`: a prefix ending in `_`, 30 random
/// base62 characters, then the CRC-32 of those 30 in 6 base62 digits) carries a valid checksum.
pub(crate) fn base62_crc32_suffix(token: &[u8]) -> bool {
    let Some(us) = token.iter().position(|&b| b == b'_') else {
        return false;
    };
    let body = &token[us + 1..];
    if body.len() != 36 || !body.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut n = crc32(&body[..30]);
    let mut digits = [b'0'; 6];
    for d in digits.iter_mut().rev() {
        *d = BASE62[(n % 62) as usize];
        n /= 62;
    }
    body[30..] == digits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_worked_examples() {
        assert!(luhn(b"79927398713"));
        assert!(!luhn(b"79927398710"));
        assert!(credit_card(b"4111111111111111"));
        assert!(credit_card(b"378282246310005"));
        assert!(credit_card(b"5555555555554444"));
        assert!(credit_card(b"2221000000000009"));
        assert!(credit_card(b"6011111111111117"));
        assert!(!credit_card(b"4111111111111112"));
        // Luhn-valid but no issuer starts with 9.
        assert!(!credit_card(b"9111111111111119"));
        assert!(!credit_card(b"0000000000000000"));
    }

    #[test]
    fn iban_mod97() {
        assert!(iban(b"DE89370400440532013000"));
        assert!(iban(b"GB82WEST12345698765432"));
        assert!(iban(b"ES9121000418450200051332"));
        assert!(iban(b"NL91ABNA0417164300"));
        assert!(!iban(b"DE89370400440532013001"));
        // Wrong length for the country.
        assert!(!iban(b"DE8937040044053201300"));
        assert!(!iban(b"XX89370400440532013000"));
    }

    #[test]
    fn ssn_rules() {
        assert!(us_ssn(b"123456780") || !us_ssn(b"123456789"));
        assert!(us_ssn(b"536225181"));
        assert!(!us_ssn(b"666123456"));
        assert!(!us_ssn(b"000123456"));
        assert!(!us_ssn(b"912345678"));
        assert!(!us_ssn(b"123004567"));
        assert!(!us_ssn(b"123450000"));
        assert!(!us_ssn(b"078051120"));
        assert!(us_itin(b"912701234"));
        assert!(!us_itin(b"912401234"));
    }

    #[test]
    fn nhs_mod11() {
        assert!(uk_nhs(b"9434765919"));
        assert!(uk_nhs(b"4010232137"));
        assert!(!uk_nhs(b"9434765918"));
        assert!(!uk_nhs(b"1111111111"));
    }

    #[test]
    fn nino_rules() {
        assert!(uk_nino(b"AB123456C"));
        assert!(!uk_nino(b"QQ123456C"));
        assert!(!uk_nino(b"GB123456A"));
        assert!(!uk_nino(b"AB123456E"));
    }

    #[test]
    fn sin_luhn() {
        assert!(luhn(b"046454286"));
        assert!(
            !canada_sin(b"046454286"),
            "0 is not an assigned first digit"
        );
        assert!(canada_sin(b"130692544"));
        assert!(!canada_sin(b"046454287"));
    }

    #[test]
    fn aadhaar_verhoeff() {
        assert!(verhoeff(b"2363"));
        assert!(!verhoeff(b"2364"));
        assert!(india_aadhaar(b"234123412346"));
        assert!(!india_aadhaar(b"234123412347"));
        assert!(!india_aadhaar(b"123412341234"));
    }

    #[test]
    fn cpf_check_digits() {
        assert!(brazil_cpf(b"52998224725"));
        assert!(!brazil_cpf(b"52998224726"));
        assert!(!brazil_cpf(b"11111111111"));
    }

    #[test]
    fn dni_letter() {
        assert!(spain_dni(b"12345678Z"));
        assert!(!spain_dni(b"12345678A"));
        assert!(spain_dni(b"X1234567L"));
    }

    #[test]
    fn dates_and_phones() {
        assert!(ymd(2000, 2, 29));
        assert!(!ymd(1900, 2, 29));
        assert!(!ymd(1980, 13, 1));
        assert!(nanp_phone(b"2125550123") || nanp_phone(b"2127364455"));
        assert!(!nanp_phone(b"1125550123"));
        assert!(e164_phone(b"442071838750"));
    }

    #[test]
    fn crc32_checksums() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert!(base62_crc32_suffix(
            b"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"
        ));
        assert!(!base62_crc32_suffix(
            b"ghp_ZJDeVREhkptGF7Wvep0NwJWlPEQP7a0t2nxM"
        ));
        assert!(!base62_crc32_suffix(b"ghp_short"));
    }

    #[test]
    fn health_and_vehicle_worked_examples() {
        // CMS's published MBI format example, and its position rules.
        assert!(us_mbi(b"1EG4TE5MK73"));
        assert!(us_mbi(b"1EG4TE5MK72"));
        assert!(!us_mbi(b"0EG4TE5MK73"));
        assert!(!us_mbi(b"1SG4TE5MK73"));
        assert!(!us_mbi(b"1EG4TE5MK7A"));
        assert!(!us_mbi(b"1EGATE5MK73"));
        // CMS's NPI check-digit example.
        assert!(us_npi(b"1234567893"));
        assert!(!us_npi(b"1234567890"));
        assert!(!us_npi(b"3234567893"));
        // DEA: 1 + 4 + 1 + 2 × (3 + 2 + 4) = 24, check digit 4.
        assert!(us_dea(b"AB1342144"));
        assert!(us_dea(b"BJ6125341"));
        assert!(!us_dea(b"AB1342145"));
        assert!(!us_dea(b"IB1342144"));
        // HICN: an SSN-valid account number and a beneficiary code.
        assert!(us_hicn(b"536225181A"));
        assert!(us_hicn(b"536225181C1"));
        assert!(!us_hicn(b"536225181C"));
        assert!(!us_hicn(b"000225181A"));
        assert!(!us_hicn(b"536225181Z"));
    }

    #[test]
    fn randomness() {
        assert!(!looks_random(
            b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEy".as_slice()
        ));
        assert!(looks_random(b"P0+atqAVCZQXq4fEQesiNV1/KWVzJDC/Iw/oA8j1"));
        assert!(!looks_random(b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    }

    #[test]
    fn national_identifier_worked_examples() {
        // France: the NIR of the french-ssn documentation, a Corsican one (2A counts as 19).
        assert!(france_nir(b"255081416802538"));
        assert!(!france_nir(b"255081416802512"));
        assert!(france_nir(b"269029934173285"));
        assert!(france_nir(b"185052A00608435"));
        assert!(!france_nir(b"185052C00608435"));
        assert!(!france_nir(b"385057800608491"));
        assert!(!france_nir(b"185137800608491"));
        // Italy: the textbook codice fiscale, and with omocodia (the last 9 as V).
        assert!(italy_codice_fiscale(b"RCCMNL83S18D969H"));
        assert!(italy_codice_fiscale(b"rccmnl83s18d969h"));
        assert!(italy_codice_fiscale(b"RCCMNL83S18D96VW"));
        assert!(!italy_codice_fiscale(b"RCCMNL83S18D969A"));
        assert!(!italy_codice_fiscale(b"RCCMNL83Z18D969H"));
        // Spain: province 28, number 12345678, control (28 * 10^8 + 12345678) mod 97 = 40.
        assert!(spain_nss(b"281234567840"));
        assert!(!spain_nss(b"281234567841"));
        assert!(!spain_nss(b"991234567840"));
        // Brazil: the Receita Federal example.
        assert!(brazil_cnpj(b"11222333000181"));
        assert!(!brazil_cnpj(b"11222333000182"));
        assert!(!brazil_cnpj(b"00000000000000"));
        // Germany: the specimen identity cards (old, 2010 and 2019).
        assert!(germany_id_card(b"1220001297"));
        assert!(germany_id_card(b"T220001293"));
        assert!(germany_id_card(b"L01X00T471"));
        assert!(!germany_id_card(b"T220001294"));
        assert!(!germany_id_card(b"A220001293"));
        // Germany: Steuer-ID examples of the BZSt / python-stdnum.
        assert!(germany_tax_id(b"36574261809"));
        assert!(germany_tax_id(b"65929970489"));
        assert!(!germany_tax_id(b"36574261808"));
        assert!(!germany_tax_id(b"12345678903"));
        // France: numéro fiscal, the last three digits the first ten mod 511.
        assert!(france_tax_id(b"3023217600053"));
        assert!(!france_tax_id(b"3023217600054"));
        assert!(!france_tax_id(b"5023217600053"));
    }
}
