//! Numbers, money and dates written the way each language's readers expect.
//!
//! Vietnamese groups thousands with `.` and writes decimals with `,` (`10.900`, `3,5`) and dates
//! as `26/11/2026`; English uses `10,900`, `3.5` and `26 Nov 2026`.

use jiff::civil::Date;
use rust_decimal::Decimal;

use crate::Lang;

pub(crate) const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A decimal number with grouped thousands, trailing zeros dropped.
pub fn number(value: Decimal, lang: Lang) -> String {
    let (group, point) = separators(lang);
    let value = value.normalize();
    let text = value.abs().to_string();
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut out = String::with_capacity(text.len() + text.len() / 3 + 1);
    if value.is_sign_negative() && !value.is_zero() {
        out.push('-');
    }
    group_digits(int, group, &mut out);
    if !frac.is_empty() {
        out.push(point);
        out.push_str(frac);
    }
    out
}

/// An integer with grouped thousands.
pub fn integer(value: i64, lang: Lang) -> String {
    number(Decimal::from(value), lang)
}

/// A percentage with at most one decimal, e.g. `12,5%` / `12.5%`.
pub fn percent(value: Decimal, lang: Lang) -> String {
    format!("{}%", number(value.round_dp(1), lang))
}

/// An amount of money in đồng, written in the largest unit that keeps it readable:
/// `3 tỷ đồng`, `450 triệu đồng`, `3 billion VND`.
pub fn money_vnd(dong: i64, lang: Lang) -> String {
    const TY: i64 = 1_000_000_000;
    const TRIEU: i64 = 1_000_000;
    let (scaled, unit_vi, unit_en) = if dong.abs() >= TY {
        (Decimal::new(dong, 0) / Decimal::from(TY), "tỷ đồng", "billion VND")
    } else if dong.abs() >= TRIEU {
        (Decimal::new(dong, 0) / Decimal::from(TRIEU), "triệu đồng", "million VND")
    } else {
        (Decimal::from(dong), "đồng", "VND")
    };
    let unit = match lang {
        Lang::Vi => unit_vi,
        Lang::En => unit_en,
    };
    format!("{} {unit}", number(scaled.round_dp(3), lang))
}

/// `26/11/2026` or `26 Nov 2026`.
pub fn date(d: Date, lang: Lang) -> String {
    match lang {
        Lang::Vi => format!("{:02}/{:02}/{}", d.day(), d.month(), d.year()),
        Lang::En => {
            let month = &MONTHS_EN[(d.month() - 1) as usize][..3];
            format!("{} {month} {}", d.day(), d.year())
        }
    }
}

/// The place-and-date line of a Vietnamese administrative document:
/// `Hà Nội, ngày 26 tháng 11 năm 2026`; in English `Hanoi, 26 November 2026`.
pub fn place_and_date(place: &str, d: Date, lang: Lang) -> String {
    match lang {
        // Nghị định 30/2020: days below 10 and months below 3 take a leading zero.
        Lang::Vi => format!("{place}, ngày {:02} tháng {} năm {}", d.day(), month_vi(d.month()), d.year()),
        Lang::En => format!("{place}, {} {} {}", d.day(), MONTHS_EN[(d.month() - 1) as usize], d.year()),
    }
}

fn month_vi(month: i8) -> String {
    if month < 3 { format!("{month:02}") } else { month.to_string() }
}

fn separators(lang: Lang) -> (char, char) {
    match lang {
        Lang::Vi => ('.', ','),
        Lang::En => (',', '.'),
    }
}

fn group_digits(digits: &str, sep: char, out: &mut String) {
    let len = digits.len();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (len - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn numbers() {
        let cases = [
            ("10900", "10.900", "10,900"),
            ("87", "87", "87"),
            ("3.5", "3,5", "3.5"),
            ("3.50", "3,5", "3.5"),
            ("1234567.25", "1.234.567,25", "1,234,567.25"),
            ("-1500", "-1.500", "-1,500"),
            ("0", "0", "0"),
            ("100", "100", "100"),
            ("1000", "1.000", "1,000"),
        ];
        for (input, vi, en) in cases {
            assert_eq!(number(dec(input), Lang::Vi), vi, "vi {input}");
            assert_eq!(number(dec(input), Lang::En), en, "en {input}");
        }
        assert_eq!(integer(10_900, Lang::Vi), "10.900");
        assert_eq!(percent(dec("12.46"), Lang::Vi), "12,5%");
    }

    #[test]
    fn money() {
        assert_eq!(money_vnd(3_000_000_000, Lang::Vi), "3 tỷ đồng");
        assert_eq!(money_vnd(3_000_000_000, Lang::En), "3 billion VND");
        assert_eq!(money_vnd(10_900_000_000_000, Lang::Vi), "10.900 tỷ đồng");
        assert_eq!(money_vnd(2_500_000_000, Lang::Vi), "2,5 tỷ đồng");
        assert_eq!(money_vnd(450_000_000, Lang::Vi), "450 triệu đồng");
        assert_eq!(money_vnd(12_000, Lang::En), "12,000 VND");
    }

    #[test]
    fn dates() {
        let d = Date::new(2026, 11, 26).unwrap();
        assert_eq!(date(d, Lang::Vi), "26/11/2026");
        assert_eq!(date(d, Lang::En), "26 Nov 2026");
        assert_eq!(date(Date::new(2019, 3, 5).unwrap(), Lang::Vi), "05/03/2019");
        assert_eq!(place_and_date("Hà Nội", d, Lang::Vi), "Hà Nội, ngày 26 tháng 11 năm 2026");
        assert_eq!(
            place_and_date("Hà Nội", Date::new(2026, 2, 5).unwrap(), Lang::Vi),
            "Hà Nội, ngày 05 tháng 02 năm 2026"
        );
        assert_eq!(place_and_date("Hanoi", d, Lang::En), "Hanoi, 26 November 2026");
    }
}
