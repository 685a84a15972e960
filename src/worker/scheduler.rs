//! Who gets a run's free slots: tasks of higher `priority` first; tasks of equal
//! priority share round-robin by items (each free slot goes to the task holding the
//! fewest items, then to the one served least), each model within its own capacity.
//! Pure arithmetic, no SQL and no threads.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// What one task asks of the scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Demand {
    /// `task.priority`: higher first.
    pub priority: i32,
    /// `id_ai_model`, whose capacity the task shares.
    pub model: u32,
    /// Items the run holds for the task now (claimed, not yet ended).
    pub held: usize,
    /// Items taken for the task so far in this run.
    pub served: u64,
    /// Whether the task may get more (it has pending items and is not halted).
    pub open: bool,
}

/// How many items each task may claim now, in the order of `demands`: `free` slots
/// in all, a model never past its room in `model_room` (models absent there have no
/// cap of their own).
pub fn share(demands: &[Demand], free: usize, model_room: &HashMap<u32, usize>) -> Vec<usize> {
    let mut given = vec![0usize; demands.len()];
    let mut room = model_room.clone();
    let mut free = free;
    let mut priorities: Vec<i32> = demands
        .iter()
        .filter(|d| d.open)
        .map(|d| d.priority)
        .collect();
    priorities.sort_unstable_by(|a, b| b.cmp(a));
    priorities.dedup();
    for priority in priorities {
        if free == 0 {
            break;
        }
        // The task holding the fewest items first; then the one served least; then
        // the oldest (lowest index).
        let mut queue: BinaryHeap<Reverse<(usize, u64, usize)>> = demands
            .iter()
            .enumerate()
            .filter(|(_, d)| d.open && d.priority == priority)
            .map(|(i, d)| Reverse((d.held, d.served, i)))
            .collect();
        while free > 0 {
            let Some(Reverse((held, served, i))) = queue.pop() else {
                break;
            };
            let model = demands[i].model;
            if let Some(left) = room.get_mut(&model) {
                if *left == 0 {
                    continue; // this model is full: the task waits, others go on
                }
                *left -= 1;
            }
            given[i] += 1;
            free -= 1;
            queue.push(Reverse((held + 1, served + 1, i)));
        }
    }
    given
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demand(priority: i32, model: u32, held: usize) -> Demand {
        Demand {
            priority,
            model,
            held,
            served: 0,
            open: true,
        }
    }

    #[test]
    fn equal_priorities_share_the_free_slots() {
        let demands = [demand(0, 1, 0), demand(0, 1, 0), demand(0, 2, 0)];
        assert_eq!(share(&demands, 9, &HashMap::new()), vec![3, 3, 3]);
        assert_eq!(share(&demands, 4, &HashMap::new()), vec![2, 1, 1]);
    }

    #[test]
    fn a_task_holding_more_gets_less_until_they_are_level() {
        let demands = [demand(0, 1, 6), demand(0, 1, 0)];
        assert_eq!(share(&demands, 8, &HashMap::new()), vec![1, 7]);
    }

    #[test]
    fn higher_priority_first_and_lower_only_with_what_is_left() {
        let demands = [demand(0, 1, 0), demand(5, 2, 0)];
        let room = HashMap::from([(2, 3)]);
        assert_eq!(share(&demands, 10, &room), vec![7, 3]);
        assert_eq!(share(&demands, 3, &room), vec![0, 3]);
    }

    #[test]
    fn a_full_model_never_holds_back_another_model() {
        let demands = [demand(0, 1, 2), demand(0, 2, 0)];
        let room = HashMap::from([(1, 0)]);
        assert_eq!(share(&demands, 5, &room), vec![0, 5]);
    }

    #[test]
    fn closed_tasks_get_nothing() {
        let mut closed = demand(9, 1, 0);
        closed.open = false;
        assert_eq!(
            share(&[closed, demand(0, 1, 0)], 4, &HashMap::new()),
            vec![0, 4]
        );
        assert!(share(&[], 4, &HashMap::new()).is_empty());
    }
}
