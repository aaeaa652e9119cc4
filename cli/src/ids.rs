//! Job ids as people type them: `12`, a range `12-14`, a list `12,13,20-22`; and the
//! task indexes of `--task` in the same forms. Pure parsing; what an id names (an
//! array's first id names the whole array) is decided where the ids are used.

use shoal_types::JobId;

/// The most ids one argument may name (a job array's largest size).
pub const MAX_IDS: u64 = shoal_types::job::MAX_ARRAY_TASKS as u64;

/// One ID argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdArg {
    pub ids: Vec<JobId>,
    /// A single id (not a range or list): the first id of an array names the array.
    pub single: bool,
}

/// `12`, `12-14`, `12,13,20-22` (clap value parser).
pub fn parse_ids(s: &str) -> Result<IdArg, String> {
    let numbers = parse_list(s, "job id")?;
    let single = !s.contains([',', '-']);
    if numbers.contains(&0) {
        return Err(format!("{s:?}: job ids start at 1"));
    }
    Ok(IdArg {
        ids: numbers.into_iter().map(JobId).collect(),
        single,
    })
}

/// Task indexes of an array (`--task`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tasks(pub Vec<u32>);

/// Task indexes of an array: `3`, `0-9`, `0,5,9` (clap value parser).
pub fn parse_tasks(s: &str) -> Result<Tasks, String> {
    parse_list(s, "task index")?
        .into_iter()
        .map(|n| u32::try_from(n).map_err(|_| format!("{s:?}: task index {n} is too large")))
        .collect::<Result<_, _>>()
        .map(Tasks)
}

/// Every number a list of numbers and `A-B` ranges names, in the order given.
fn parse_list(s: &str, what: &str) -> Result<Vec<u64>, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("{s:?}: an empty {what} in the list"));
        }
        let number = |t: &str| {
            t.trim()
                .parse::<u64>()
                .map_err(|_| format!("{s:?}: {t:?} is not a {what} (a whole number)"))
        };
        match part.split_once('-') {
            None => out.push(number(part)?),
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                if b < a {
                    return Err(format!("{s:?}: the range {part} runs backwards"));
                }
                if b - a + 1 > MAX_IDS {
                    return Err(format!(
                        "{s:?}: the range {part} names {} ids; at most {MAX_IDS} at once",
                        b - a + 1
                    ));
                }
                out.extend(a..=b);
            }
        }
        if out.len() as u64 > MAX_IDS {
            return Err(format!("{s:?}: more than {MAX_IDS} ids at once"));
        }
    }
    Ok(out)
}

/// All ids of several arguments, each once, in the order first named.
pub fn flatten(args: &[IdArg]) -> Vec<JobId> {
    let mut seen = std::collections::HashSet::new();
    args.iter()
        .flat_map(|a| a.ids.iter().copied())
        .filter(|id| seen.insert(*id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(s: &str) -> Vec<u64> {
        parse_ids(s).unwrap().ids.into_iter().map(|i| i.0).collect()
    }

    #[test]
    fn singles_ranges_and_lists() {
        assert_eq!(ids("12"), [12]);
        assert!(parse_ids("12").unwrap().single);
        assert_eq!(ids("12-14"), [12, 13, 14]);
        assert!(!parse_ids("12-12").unwrap().single);
        assert_eq!(ids("12,13,20-22"), [12, 13, 20, 21, 22]);
        assert_eq!(parse_tasks("0-2,7").unwrap().0, [0, 1, 2, 7]);
    }

    #[test]
    fn bad_ids_are_refused_with_the_reason() {
        for (s, why) in [
            ("", "empty"),
            ("1,,2", "empty"),
            ("x", "not a job id"),
            ("3-1", "backwards"),
            ("1-200000", "at most 100000"),
            ("0", "start at 1"),
            ("1-", "not a job id"),
        ] {
            let e = parse_ids(s).unwrap_err();
            assert!(e.contains(why), "{s:?}: {e}");
        }
        assert!(parse_tasks("5000000000").unwrap_err().contains("too large"));
    }

    #[test]
    fn flatten_keeps_the_first_mention() {
        let a = [parse_ids("3-5").unwrap(), parse_ids("4,9").unwrap()];
        assert_eq!(flatten(&a), [JobId(3), JobId(4), JobId(5), JobId(9)]);
    }
}
