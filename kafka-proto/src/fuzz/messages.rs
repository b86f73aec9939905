//! Entry points for the fuzz targets in `fuzz/` (one-line wrappers call
//! these). Each takes arbitrary bytes and must never panic, loop without
//! bound or allocate without bound.

use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::api::{AnyResponse, SUPPORTED_APIS};
use crate::connection::{Config, Connection, FrameDecoder, read_request_frame};
use crate::header::ResponseHeader;

/// The largest frame the fuzz entry points accept.
const MAX_FRAME: usize = 1 << 20;

/// Feeds `data` to the frame decoder, decodes each frame as a response
/// header and as a request, and feeds it as broker input to a connection.
pub fn frame_decoder(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    let mut frames = FrameDecoder::new(MAX_FRAME);
    while let Ok(Some(frame)) = frames.decode(&mut buf) {
        let _ = ResponseHeader::decode(&mut frame.clone(), 1);
        let _ = read_request_frame(frame);
    }
    let now = Instant::now();
    let mut conn = Connection::new(
        Config {
            max_response_size: MAX_FRAME,
            ..Config::default()
        },
        now,
    );
    let _ = conn.handle_input(now, &mut BytesMut::from(data));
    while conn.poll_event().is_some() {}
}

/// Decodes `data[2..]` as a response: `data[0]` picks the API (modulo the
/// number implemented), `data[1]` the version within its range. Whatever
/// decodes must re-encode to bytes that decode to the same value.
///
/// # Panics
/// If a decoded response does not survive re-encoding: a codec bug.
pub fn response_decoder(data: &[u8]) {
    let [a, v, rest @ ..] = data else {
        return;
    };
    let Some(api) = SUPPORTED_APIS.get(usize::from(*a) % SUPPORTED_APIS.len()) else {
        return;
    };
    let span = i32::from(api.max_version) - i32::from(api.min_version) + 1;
    let version = i32::from(api.min_version) + i32::from(*v) % span.max(1);
    let Ok(version) = i16::try_from(version) else {
        return;
    };
    let mut input = Bytes::copy_from_slice(rest);
    let Ok(response) = AnyResponse::decode(api.api_key, version, &mut input) else {
        return;
    };
    let mut first = BytesMut::new();
    if response.encode(version, &mut first).is_err() {
        return;
    }
    let again = AnyResponse::decode(api.api_key, version, &mut first.clone().freeze());
    let Ok(again) = again else {
        panic!("re-encoded {:?} v{version} does not decode", api.api_key);
    };
    let mut second = BytesMut::new();
    let encoded = again.encode(version, &mut second);
    assert!(
        encoded.is_ok() && first == second,
        "{:?} v{version} does not round-trip",
        api.api_key
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::dsl::testgen::Gen;
    use crate::api::generate_response;
    use crate::connection::write_response_frame;

    fn mutate(g: &mut Gen, input: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        match g.below(5) {
            0 if !out.is_empty() => {
                let i = g.below(out.len() as u64) as usize;
                out[i] ^= 1 << g.below(8);
            }
            1 if !out.is_empty() => {
                let i = g.below(out.len() as u64) as usize;
                out[i] = [0x00, 0x7f, 0x80, 0xff][g.below(4) as usize];
            }
            2 => out.truncate(g.below(out.len() as u64 + 1) as usize),
            3 => {
                let i = g.below(out.len() as u64 + 1) as usize;
                out.insert(i, g.u64() as u8);
            }
            _ => {
                let n = g.below(16) as usize;
                out.extend((0..n).map(|_| g.u64() as u8));
            }
        }
        out
    }

    #[test]
    fn response_decoder_survives_generated_and_mutated_input() {
        let mut g = Gen::new(0x5eed);
        let mut decoded = 0;
        for (i, api) in SUPPORTED_APIS.iter().enumerate() {
            for version in api.min_version..=api.max_version {
                for _ in 0..20 {
                    let resp = generate_response(api.api_key, version, &mut g).unwrap();
                    let mut input = vec![i as u8, (version - api.min_version) as u8];
                    let mut body = BytesMut::new();
                    resp.encode(version, &mut body).unwrap();
                    input.extend_from_slice(&body);
                    // The valid input decodes to the value it came from.
                    let back = AnyResponse::decode(
                        api.api_key,
                        version,
                        &mut Bytes::copy_from_slice(&input[2..]),
                    );
                    assert_eq!(back.as_ref(), Ok(&resp));
                    decoded += 1;
                    response_decoder(&input);
                    let mut m = input.clone();
                    for _ in 0..10 {
                        m = mutate(&mut g, &m);
                        // Keep the API/version bytes most of the time.
                        if m.len() >= 2 && g.below(4) != 0 {
                            m[0] = i as u8;
                            m[1] = (version - api.min_version) as u8;
                        }
                        response_decoder(&m);
                    }
                }
            }
        }
        assert!(decoded > 2000);
        for _ in 0..2000 {
            let n = g.below(64) as usize;
            let junk: Vec<u8> = (0..n).map(|_| g.u64() as u8).collect();
            response_decoder(&junk);
        }
    }

    #[test]
    fn frame_decoder_survives_generated_and_mutated_input() {
        let mut g = Gen::new(0xf00d);
        for api in SUPPORTED_APIS {
            for version in api.min_version..=api.max_version {
                let resp = generate_response(api.api_key, version, &mut g).unwrap();
                let mut frame = BytesMut::new();
                match &resp {
                    AnyResponse::Metadata(m) => {
                        write_response_frame(&mut frame, 0, version, m).unwrap()
                    }
                    other => {
                        frame.extend_from_slice(&[0, 0, 0, 0]);
                        other.encode(version, &mut frame).unwrap();
                        let len = (frame.len() - 4) as i32;
                        frame[..4].copy_from_slice(&len.to_be_bytes());
                    }
                }
                frame_decoder(&frame);
                let mut m = frame.to_vec();
                for _ in 0..20 {
                    m = mutate(&mut g, &m);
                    frame_decoder(&m);
                }
            }
        }
        // Sizes at the edges: negative, huge, zero.
        for prefix in [
            [0xff, 0xff, 0xff, 0xff],
            [0x7f, 0xff, 0xff, 0xff],
            [0, 0, 0, 0],
            [0, 0x10, 0, 1],
        ] {
            frame_decoder(&prefix);
        }
    }
}
