//! The budgets added against work a peer causes without asking for anything: frames that do
//! nothing (stray replies, items for calls never made, pings while a pong is unsent, unknown
//! optional kinds), and requests cancelled while served (HTTP/2's rapid-reset pattern). Up
//! to the budget nothing happens but counters; one past it resets the link; a new window
//! starts afresh.

use wirecall::{Disconnect, Procedure};
use wirecall_tests::demo::demo;
use wirecall_tests::engine::Owned;
use wirecall_tests::raw;

use crate::common::enc;
use crate::victim::Victim;

fn reset(v: &Victim) -> bool {
    v.events
        .contains(&Owned::Disconnected(Disconnect::ProtocolViolation))
}

fn reply_frame(id: u32) -> Vec<u8> {
    let mut b = vec![0x03];
    b.extend(raw::varint(id));
    b.extend(enc(&42i32));
    raw::frame(&b)
}

#[test]
fn replies_to_calls_never_made_are_stray_up_to_the_budget() {
    let mut v = Victim::connected();
    let strays: Vec<u8> = (100..164).flat_map(reply_frame).collect();
    v.feed(&strays);
    assert!(!reset(&v), "64 in a second are tolerated: {:?}", v.events);
    assert_eq!(v.ep.stats().late_replies, 64);
    // One more within the same second resets the link.
    v.feed(&reply_frame(200));
    assert!(reset(&v), "{:?}", v.events);
}

#[test]
fn the_stray_budget_is_per_window() {
    let mut v = Victim::connected();
    for _ in 0..5 {
        let strays: Vec<u8> = (100..160).flat_map(reply_frame).collect();
        v.feed(&strays);
        v.advance(1001);
    }
    assert!(!reset(&v), "60 a second for 5 s: {:?}", v.events);
    assert_eq!(v.ep.stats().late_replies, 300);
}

#[test]
fn a_ping_flood_past_the_budget_resets_the_link() {
    let mut v = Victim::connected();
    // The first ping makes a pong due; each one after it, before the pong leaves, is stray.
    let pings: Vec<u8> = (0..65).flat_map(|_| raw::frame(&[0x06])).collect();
    assert_eq!(v.feed_until_stall(&pings), pings.len());
    assert!(!reset(&v), "{:?}", v.events);
    let more: Vec<u8> = (0..2).flat_map(|_| raw::frame(&[0x06])).collect();
    let taken = v.feed_until_stall(&more);
    assert!(reset(&v), "{:?} {taken} {:?}", v.events, v.ep.stats());
}

#[test]
fn unknown_optional_kinds_are_stray() {
    let mut v = Victim::connected();
    // Kind 0x1f without the must-understand bit: ignored, and counted.
    let unknown: Vec<u8> = (0..64).flat_map(|_| raw::frame(&[0x1f, 1, 2])).collect();
    v.feed(&unknown);
    assert_eq!(v.ep.stats().ignored_frames, 64);
    assert!(!reset(&v));
    v.feed(&raw::frame(&[0x1f]));
    assert!(reset(&v), "{:?}", v.events);
}

fn request_then_cancel(id: u32) -> Vec<u8> {
    let mut wire = raw::frame(&raw::request(id, demo::Add::ID, &enc(&(1, 2))));
    let mut cancel = vec![0x05];
    cancel.extend(raw::varint(id));
    wire.extend(raw::frame(&cancel));
    wire
}

#[test]
fn request_and_cancel_pairs_under_the_cancel_budget_still_end_the_link() {
    // 33 pairs a second stay far under the cancel budget (64/s), but each admitted request
    // started work that is thrown away: the 33rd within 10 s resets the link.
    let mut v = Victim::connected();
    for id in 0..32 {
        v.feed(&request_then_cancel(id));
        v.advance(30);
    }
    assert!(!reset(&v), "{:?}", v.events);
    let admitted = v
        .events
        .iter()
        .filter(|e| matches!(e, Owned::Request { .. }))
        .count();
    assert_eq!(
        admitted, 32,
        "every request was admitted and handed to the application"
    );
    v.feed(&request_then_cancel(32));
    assert!(reset(&v), "{:?}", v.events);
}

#[test]
fn cancels_of_calls_already_answered_cost_only_the_cancel_budget() {
    // A cancel that crosses the answer abandons no work: the abandon budget is untouched.
    let mut v = Victim::connected();
    for id in 0..40u32 {
        let mut cancel = vec![0x05];
        cancel.extend(raw::varint(1000 + id));
        v.feed(&raw::frame(&cancel));
        v.advance(30);
    }
    assert!(!reset(&v), "{:?}", v.events);
    assert_eq!(v.ep.stats().cancels_received, 40);
}
