//! Entry point for the SASL mechanisms fed arbitrary broker messages.

use crate::connection::Sasl;
use crate::connection::sasl::{SaslExchange, Step};

/// `data[0]` picks the mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512,
/// OAUTHBEARER); the rest, split at NUL bytes, are the broker's successive
/// SaslAuthenticate answers, fed until the exchange ends or fails.
pub fn sasl_client(data: &[u8]) {
    let [pick, rest @ ..] = data else {
        return;
    };
    let sasl = match pick % 4 {
        0 => Sasl::plain("user", "pencil"),
        1 => Sasl::scram_sha256("user", "pencil"),
        2 => Sasl::scram_sha512("user", "pencil"),
        _ => Sasl::oauthbearer("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyIn0."),
    };
    let Ok(mut exchange) = SaslExchange::start(&sasl, Some("rOprNGfwEbeRWgbNEkqO")) else {
        panic!("the fuzz credentials are valid");
    };
    let _ = exchange.take_first();
    for message in rest.split(|&b| b == 0) {
        match exchange.step(message) {
            Ok(Step::Send(_)) => {}
            Ok(Step::Done) | Err(_) => break,
        }
    }
    let _ = exchange.failure_detail();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_client_survives_vectors_and_their_mutations() {
        let server_first: &[u8] =
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let server_final: &[u8] = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
        for pick in 0..4u8 {
            let mut input = vec![pick];
            input.extend_from_slice(server_first);
            input.push(0);
            input.extend_from_slice(server_final);
            sasl_client(&input);
            // Bytes of the server-first changed, one at a time (every
            // seventh: each change that still parses costs a PBKDF2, slow in
            // an unoptimized test build).
            for i in (1..=server_first.len()).step_by(7) {
                let mut m = input.clone();
                m[i] ^= 0x21;
                sasl_client(&m);
            }
            sasl_client(&[pick]);
            sasl_client(&[pick, 0, 0, 0]);
            sasl_client(&[pick, 0xff, 0xfe]);
        }
    }
}
