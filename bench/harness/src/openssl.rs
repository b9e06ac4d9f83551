//! The yardstick for the `rsa` channel: OpenSSL's RSA-2048 sign rate on every core,
//! measured in the same run (`openssl speed -multi <cores> -seconds <s> rsa2048`).

use std::process::Command;

/// Runs `openssl speed` and returns the signs per second of all `cores` together.
pub fn rsa2048_sign_rate(cores: usize, seconds: u32) -> Result<f64, String> {
    let out = Command::new("openssl")
        .args(["speed", "-multi", &cores.to_string(), "-seconds"])
        .arg(seconds.to_string())
        .arg("rsa2048")
        .output()
        .map_err(|e| format!("cannot run openssl: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    parse_sign_rate(&stdout).ok_or_else(|| {
        format!(
            "no `rsa 2048 bits` line in openssl's output: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Reads sign/s from the summary line: `rsa 2048 bits 0.000145s 0.000004s 6896.6 250000.0`.
pub fn parse_sign_rate(output: &str) -> Option<f64> {
    let line = output
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("rsa") && l.contains("2048 bits"))?;
    let rest = line.split_once("bits")?.1;
    let numbers: Vec<&str> = rest.split_whitespace().collect();
    // sign time, verify time, sign/s, verify/s
    numbers.get(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_multi_summary_line() {
        let output = "Got: +F2:2:2048:476.237624:6873.000000 from 0\n\
                      version: 3.0.19\n                  sign    verify    sign/s verify/s\n\
                      rsa 2048 bits 0.000970s 0.000071s   1031.1  14116.6\n";
        assert_eq!(parse_sign_rate(output), Some(1031.1));
        assert_eq!(parse_sign_rate("nothing"), None);
    }
}
