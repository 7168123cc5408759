//! A person's focus as History shows it: the numbers, the last weeks as
//! bars, and the year as a heatmap drawn in inline SVG (one square a day,
//! a column a week, darker for more focused minutes).

use std::collections::HashMap;

use axum::http::HeaderMap;
use chrono::{Datelike, Duration, FixedOffset, NaiveDate};
use domain::focus::{FocusDay, FocusStats};

use super::display;
use crate::auth;

/// The cookie the pages' script keeps the reader's offset from UTC in
/// (minutes, east positive), so days are theirs without a round trip.
pub const OFFSET_COOKIE: &str = "lockin_utc_offset";

/// The reader's offset from UTC: their cookie's, else UTC.
pub fn reader_offset(headers: &HeaderMap) -> FixedOffset {
    auth::cookie(headers, OFFSET_COOKIE)
        .and_then(|raw| domain::focus::parse_utc_offset(Some(raw)).ok())
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC is an offset"))
}

/// One day's square of the heatmap.
pub struct Cell {
    pub x: i64,
    pub y: i64,
    /// 0 (none) to 4 (two hours or more), for its colour.
    pub level: u8,
    /// "Mon 30 Nov 2026: 50 min, 2 blocks", its tooltip and accessible name.
    pub label: String,
}

/// A month's name over the column where it begins.
pub struct MonthLabel {
    pub x: i64,
    pub name: String,
}

pub struct WeekBar {
    pub label: String,
    pub minutes: String,
    pub blocks: String,
    /// Of the longest week shown, for the bar's length.
    pub percent: i64,
}

pub struct FocusView {
    pub utc_offset_minutes: i32,
    pub zone: String,
    pub today: String,
    pub week: String,
    pub streak_days: i64,
    pub longest_streak_days: i64,
    pub total: String,
    pub total_blocks: String,
    pub weeks: Vec<WeekBar>,
    pub cells: Vec<Cell>,
    pub months: Vec<MonthLabel>,
    pub width: i64,
    pub height: i64,
}

const CELL: i64 = 11;
const GAP: i64 = 2;
const TOP: i64 = 16;

fn level(minutes: i64) -> u8 {
    match minutes {
        0 => 0,
        1..30 => 1,
        30..60 => 2,
        60..120 => 3,
        _ => 4,
    }
}

use display::minutes as minutes_text;

fn blocks_text(blocks: i64) -> String {
    if blocks == 1 {
        "1 block".to_owned()
    } else {
        format!("{blocks} blocks")
    }
}

/// "UTC", "UTC+01:00", "UTC−05:30".
fn zone_name(minutes: i32) -> String {
    if minutes == 0 {
        return "UTC".to_owned();
    }
    let sign = if minutes > 0 { '+' } else { '−' };
    let minutes = minutes.abs();
    format!("UTC{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

impl FocusView {
    pub fn new(stats: &FocusStats) -> Self {
        let first = stats.first_day();
        let mut cells = Vec::new();
        let mut months = Vec::new();
        let mut day = first;
        let by_day: HashMap<NaiveDate, &FocusDay> =
            stats.days.iter().map(|d| (d.date, d)).collect();
        while day <= stats.today {
            let offset = (day - first).num_days();
            let (column, row) = (offset / 7, offset % 7);
            let (minutes, blocks) = by_day.get(&day).map_or((0, 0), |d| (d.minutes, d.blocks));
            let x = column * (CELL + GAP);
            if day.day() <= 7 && row == 0 {
                months.push(MonthLabel {
                    x,
                    name: day.format("%b").to_string(),
                });
            }
            cells.push(Cell {
                x,
                y: TOP + row * (CELL + GAP),
                level: level(minutes),
                label: format!(
                    "{}: {}, {}",
                    day.format("%a %-d %b %Y"),
                    minutes_text(minutes),
                    blocks_text(blocks)
                ),
            });
            day += Duration::days(1);
        }
        let columns = (stats.today - first).num_days() / 7 + 1;
        let longest_week = stats.weeks.iter().map(|w| w.minutes).max().unwrap_or(0);
        let weeks = stats
            .weeks
            .iter()
            .map(|week| WeekBar {
                label: format!("Week of {}", week.starts.format("%-d %b")),
                minutes: minutes_text(week.minutes),
                blocks: blocks_text(week.blocks),
                percent: if longest_week == 0 {
                    0
                } else {
                    week.minutes * 100 / longest_week
                },
            })
            .collect();
        Self {
            utc_offset_minutes: stats.utc_offset_minutes,
            zone: zone_name(stats.utc_offset_minutes),
            today: minutes_text(stats.today_minutes),
            week: minutes_text(stats.week_minutes),
            streak_days: stats.streak_days,
            longest_streak_days: stats.longest_streak_days,
            total: minutes_text(stats.total_minutes),
            total_blocks: blocks_text(stats.total_blocks),
            weeks,
            cells,
            months,
            width: columns * (CELL + GAP),
            height: TOP + 7 * (CELL + GAP),
        }
    }

    pub fn days_text(days: &i64) -> String {
        if *days == 1 {
            "1 day".to_owned()
        } else {
            format!("{days} days")
        }
    }
}

#[cfg(test)]
mod tests {
    use domain::focus::FocusWeek;

    use super::*;

    #[test]
    fn the_heatmap_has_a_square_a_day_in_week_columns_with_its_minutes() {
        // 30 November 2026 is a Monday.
        let today = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let stats = FocusStats {
            utc_offset_minutes: 60,
            today,
            today_minutes: 50,
            week_minutes: 50,
            streak_days: 1,
            longest_streak_days: 1,
            total_minutes: 50,
            total_blocks: 2,
            days: vec![FocusDay {
                date: today,
                minutes: 50,
                blocks: 2,
            }],
            weeks: vec![FocusWeek {
                starts: today,
                minutes: 50,
                blocks: 2,
            }],
        };
        let view = FocusView::new(&stats);
        // 52 whole weeks and today, the Monday of the 53rd.
        assert_eq!(view.cells.len(), 52 * 7 + 1);
        let last = view.cells.last().unwrap();
        assert_eq!(last.label, "Mon 30 Nov 2026: 50 min, 2 blocks");
        assert_eq!((last.level, last.y), (2, TOP));
        assert_eq!(last.x, 52 * (CELL + GAP));
        assert_eq!(view.cells[0].level, 0);
        assert!(
            view.cells[0].label.ends_with(": 0 min, 0 blocks"),
            "{}",
            view.cells[0].label
        );
        assert_eq!(view.zone, "UTC+01:00");
        assert_eq!(view.weeks[0].percent, 100);
        assert!(view.months.iter().any(|month| month.name == "Nov"));
    }
}
