//! Value objects of an order: each parses its input once and is valid from then on.

use domain_kit::{ValueError, bounded_text, refuse};
use serde::{Deserialize, Serialize};

/// Most lines an order may have.
pub const MAX_ITEMS: usize = 100;

/// A stock-keeping unit: trimmed, 1 to 64 characters, no whitespace or control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sku(String);

impl Sku {
    /// Longest SKU accepted, in characters.
    pub const MAX_LEN: usize = 64;

    /// Parses a SKU.
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let sku = bounded_text("sku", input, Self::MAX_LEN, false)?;
        if sku.chars().any(char::is_whitespace) {
            return Err(refuse(
                "invalid_characters",
                "sku must not contain whitespace",
            ));
        }
        Ok(Self(sku))
    }

    /// The SKU.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many of a SKU: 1 to 1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Quantity(u32);

impl Quantity {
    /// Largest quantity of one line.
    pub const MAX: i64 = 1_000;

    /// Parses a quantity.
    pub fn parse(quantity: i64) -> Result<Self, ValueError> {
        if !(1..=Self::MAX).contains(&quantity) {
            return Err(refuse(
                "out_of_range",
                format!("quantity must be between 1 and {}", Self::MAX),
            ));
        }
        Ok(Self(quantity as u32))
    }

    /// The quantity.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// A unit price in minor units (cents): 0 (free) or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnitPrice(i64);

impl UnitPrice {
    /// Parses a price.
    pub fn parse(cents: i64) -> Result<Self, ValueError> {
        if cents < 0 {
            return Err(refuse("negative", "unit_price_cents must not be negative"));
        }
        Ok(Self(cents))
    }

    /// The price in cents.
    pub fn cents(self) -> i64 {
        self.0
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    pub sku: Sku,
    pub quantity: Quantity,
    pub unit_price: UnitPrice,
}

impl LineItem {
    /// `quantity * unit_price`, or `None` if it does not fit in an i64.
    pub fn subtotal_cents(&self) -> Option<i64> {
        self.unit_price
            .cents()
            .checked_mul(i64::from(self.quantity.get()))
    }
}

/// The lines of an order: 1 to 100, whose total fits in an i64 number of cents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Items {
    lines: Vec<LineItem>,
    total_cents: i64,
}

impl Items {
    /// Checks the count and computes the total, refusing one that overflows.
    pub fn new(lines: Vec<LineItem>) -> Result<Self, ValueError> {
        if lines.is_empty() {
            return Err(refuse("required", "an order needs at least one item"));
        }
        if lines.len() > MAX_ITEMS {
            return Err(refuse(
                "too_many",
                format!("an order has at most {MAX_ITEMS} items"),
            ));
        }
        let total_cents = lines
            .iter()
            .try_fold(0i64, |total, line| {
                total.checked_add(line.subtotal_cents()?)
            })
            .ok_or_else(|| refuse("total_overflow", "the order's total is too large"))?;
        Ok(Self { lines, total_cents })
    }

    /// The lines, in the order given.
    pub fn lines(&self) -> &[LineItem] {
        &self.lines
    }

    /// Sum of every line's quantity times unit price.
    pub fn total_cents(&self) -> i64 {
        self.total_cents
    }
}

/// The currency an order's prices and total are in: an ISO 4217 code. Credit is held in
/// [`Currency::SETTLEMENT`] only, so orders are taken in it only; a client states the currency
/// it assumes and is refused if it assumed another, instead of being charged in the wrong one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    /// The currency credit limits and reservations are counted in.
    pub const SETTLEMENT: &str = "EUR";

    /// Parses a code: three capital letters, and the settlement currency.
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        if input.len() != 3 || !input.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(refuse(
                "invalid_currency",
                "currency must be an ISO 4217 code of three capital letters, e.g. EUR",
            ));
        }
        if input != Self::SETTLEMENT {
            return Err(refuse(
                "unsupported_currency",
                format!("orders are taken in {} only", Self::SETTLEMENT),
            ));
        }
        Ok(Self(input.to_owned()))
    }

    /// The settlement currency, for an order that does not state one.
    pub fn settlement() -> Self {
        Self(Self::SETTLEMENT.to_owned())
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(quantity: i64, price: i64) -> LineItem {
        LineItem {
            sku: Sku::parse("SKU-1").unwrap(),
            quantity: Quantity::parse(quantity).unwrap(),
            unit_price: UnitPrice::parse(price).unwrap(),
        }
    }

    #[test]
    fn skus_are_bounded_and_without_whitespace() {
        assert_eq!(Sku::parse(" ABC-1 ").unwrap().as_str(), "ABC-1");
        assert_eq!(Sku::parse("").unwrap_err().code, "required");
        assert_eq!(Sku::parse(&"x".repeat(65)).unwrap_err().code, "too_long");
        assert_eq!(Sku::parse("A B").unwrap_err().code, "invalid_characters");
        assert_eq!(Sku::parse("A\u{0}").unwrap_err().code, "invalid_characters");
    }

    #[test]
    fn quantities_and_prices_are_bounded() {
        assert!(Quantity::parse(1).is_ok() && Quantity::parse(1_000).is_ok());
        for bad in [0, -1, 1_001, i64::MAX] {
            assert_eq!(Quantity::parse(bad).unwrap_err().code, "out_of_range");
        }
        assert!(UnitPrice::parse(0).is_ok());
        assert_eq!(UnitPrice::parse(-1).unwrap_err().code, "negative");
    }

    #[test]
    fn currencies_are_iso_codes_and_the_settlement_one() {
        assert_eq!(Currency::parse("EUR").unwrap(), Currency::settlement());
        for bad in ["", "eur", "EURO", "E1R", "€"] {
            assert_eq!(
                Currency::parse(bad).unwrap_err().code,
                "invalid_currency",
                "{bad:?}"
            );
        }
        assert_eq!(
            Currency::parse("USD").unwrap_err().code,
            "unsupported_currency"
        );
    }

    #[test]
    fn totals_are_computed_and_overflow_is_refused() {
        let items = Items::new(vec![line(2, 150), line(1, 0), line(3, 1_000)]).unwrap();
        assert_eq!(items.total_cents(), 3_300);
        assert_eq!(Items::new(vec![]).unwrap_err().code, "required");
        assert_eq!(
            Items::new(vec![line(1, 1); 101]).unwrap_err().code,
            "too_many"
        );
        assert!(Items::new(vec![line(1, 1); 100]).is_ok());
        assert_eq!(
            Items::new(vec![line(1_000, i64::MAX / 100)])
                .unwrap_err()
                .code,
            "total_overflow"
        );
        assert_eq!(
            Items::new(vec![line(1, i64::MAX), line(1, 1)])
                .unwrap_err()
                .code,
            "total_overflow"
        );
        assert_eq!(
            Items::new(vec![line(1, i64::MAX)]).unwrap().total_cents(),
            i64::MAX
        );
    }
}
