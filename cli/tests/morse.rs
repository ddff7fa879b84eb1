//! `wirecall demo --link morse` and `wirecall morse decode`: the demo's output is checked
//! (its calls' results, the Morse of every frame), and the WAV it writes, with white noise
//! at a signal-to-noise ratio of 6 dB, is decoded back into exactly the frames the demo
//! keyed, each direction on its own channel.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

mod common;
use common::*;

/// The hex lines (`00 .. 00`) of the frames in `out` that follow a header line for which
/// `starts` holds, in order.
fn frames(out: &str, mut starts: impl FnMut(&str) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    let mut take = false;
    for line in out.lines() {
        let hex = line.trim();
        if take && hex.starts_with("00 ") {
            found.push(hex.to_string());
            take = false;
            continue;
        }
        if line.starts_with('[') {
            take = starts(line);
        }
    }
    found
}

#[test]
fn the_morse_demo_shows_its_calls_and_its_recording_decodes_to_the_same_frames() {
    let dir = TempDir::new("morse-demo");
    let wav = dir.file("session.wav");
    let o = Command::new(BIN)
        .args(["demo", "--link", "morse", "--wav", &wav, "--snr", "6"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for want in [
        "=> add(2, 40) = 42",
        "=> echo(\"hi\") = \"hi\"",
        "=> fail() failed: remote error: internal error",
        "connected: the device serves the demo schema",
        "0 and 0 words unreadable",
        "wrote ",
    ] {
        assert!(out.contains(want), "no {want:?} in:\n{out}");
    }
    // Every frame is shown with its Morse: the Request for add(2, 40) (args 04 50), whose
    // bytes 04 and 50 are "----- ....-" and "..... -----".
    let request = out
        .lines()
        .position(|l| l.contains("Request id 0, procedure 0, bytes 04 50"))
        .expect("the add request");
    // (Lines wrap between bytes: joined, they read as one sequence of words.)
    let morse = out
        .lines()
        .skip(request + 2)
        .take_while(|l| l.starts_with("             "))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" / ");
    assert!(
        morse.contains("----- ....- / ..... -----"),
        "no Morse for 04 50 in {morse}"
    );

    let sent = |who: &str| frames(&out, |l| l.contains(who));
    let (to_device, to_host) = (sent("host -> device"), sent("device -> host"));
    assert!(to_device.len() >= 5 && to_host.len() >= 5, "{out}");

    let o = Command::new(BIN)
        .args(["morse", "decode", &wav])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let heard = stdout(&o);
    let (left, right) = heard.split_once("channel 2").expect("two channels");
    assert!(left.contains("tone 600 Hz"), "{heard}");
    assert!(right.contains("tone 800 Hz"), "{heard}");
    assert_eq!(frames(left, |_| true), to_device, "left channel:\n{heard}");
    assert_eq!(frames(right, |_| true), to_host, "right channel:\n{heard}");
    assert!(
        left.contains("0 broken") && right.contains("0 broken"),
        "{heard}"
    );
}

#[test]
fn decoding_what_is_not_a_wav_file_is_a_clear_error() {
    let dir = TempDir::new("morse-bad");
    let path = dir.file("not.wav");
    std::fs::write(&path, b"not a wav file at all").unwrap();
    let o = Command::new(BIN)
        .args(["morse", "decode", &path])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot read"), "{}", stderr(&o));
}

#[test]
fn a_recording_without_a_keyed_tone_says_so_and_fails() {
    let dir = TempDir::new("morse-silence");
    let path = dir.file("silence.wav");
    // Two seconds of 8 kHz mono silence, written by hand (a 44-byte header, then samples).
    let samples = 16_000u32;
    let mut wav = Vec::new();
    wav.extend(b"RIFF");
    wav.extend((36 + samples * 2).to_le_bytes());
    wav.extend(b"WAVEfmt ");
    wav.extend(16u32.to_le_bytes());
    wav.extend(1u16.to_le_bytes()); // PCM
    wav.extend(1u16.to_le_bytes()); // mono
    wav.extend(8000u32.to_le_bytes());
    wav.extend(16_000u32.to_le_bytes()); // bytes per second
    wav.extend(2u16.to_le_bytes());
    wav.extend(16u16.to_le_bytes());
    wav.extend(b"data");
    wav.extend((samples * 2).to_le_bytes());
    wav.resize(wav.len() + samples as usize * 2, 0);
    std::fs::write(&path, wav).unwrap();
    let o = Command::new(BIN)
        .args(["morse", "decode", &path])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("no keyed tone found"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("no wirecall frame heard"),
        "{}",
        stderr(&o)
    );
}
