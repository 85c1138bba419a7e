//! The institution's brand configuration: name, platform, policy profile.
//!
//! Institutions brand and distribute the app; the configuration is embedded at build
//! time (`brand/default.json`). Debug builds (tests, the demo) may replace it by a
//! file named in `KESHI_BRAND` and override the platform with `KESHI_PLATFORM_URL`;
//! release builds ignore both. The platform must be `https`, except on loopback.

use serde::Deserialize;

use crate::error::{AppCode, AppError, AppResult};

/// Brand settings.
#[derive(Debug, Clone, Deserialize)]
pub struct Brand {
    /// Institution name, Chinese.
    pub brand_zh: String,
    /// Institution name, English.
    pub brand_en: String,
    /// Platform base URL.
    pub platform_url: String,
    /// Policy profile id (`shanxi`, `shanghai`…, or `demo`).
    pub profile: String,
    /// The platform's Ed25519 public key (hex, as `keshi-platform serve` prints it):
    /// a platform answering with another key is not trusted. Required by release
    /// builds for a platform off this machine.
    #[serde(default)]
    pub platform_public_key: Option<String>,
}

const DEFAULT: &str = include_str!("../brand/default.json");

impl Brand {
    /// The brand in force: `KESHI_BRAND` or the embedded default, then
    /// `KESHI_PLATFORM_URL`.
    pub fn load() -> AppResult<Brand> {
        let mut brand: Brand = match crate::dev_override("KESHI_BRAND") {
            Some(p) => {
                let text = std::fs::read_to_string(&p).map_err(|e| {
                    AppError::new(
                        AppCode::BrandInvalid,
                        format!("cannot read {}: {e}", p.to_string_lossy()),
                    )
                })?;
                serde_json::from_str(&text).map_err(|e| {
                    AppError::new(
                        AppCode::BrandInvalid,
                        format!("{}: {e}", p.to_string_lossy()),
                    )
                })?
            }
            None => serde_json::from_str(DEFAULT).map_err(|e| {
                AppError::new(AppCode::BrandInvalid, format!("embedded brand: {e}"))
            })?,
        };
        if let Some(url) = crate::dev_override("KESHI_PLATFORM_URL") {
            brand.platform_url = url.to_string_lossy().into_owned();
        }
        check_platform_url(&brand.platform_url)?;
        brand.platform_key()?;
        if !cfg!(debug_assertions)
            && brand.platform_public_key.is_none()
            && !is_loopback_url(&brand.platform_url)
        {
            return Err(AppError::new(
                AppCode::BrandInvalid,
                "the brand must pin the platform's public key (platform_public_key)",
            ));
        }
        player_core::policy::Policy::by_id(&brand.profile)
            .map_err(|e| AppError::new(AppCode::BrandInvalid, e.to_string()))?;
        Ok(brand)
    }
}

impl Brand {
    /// The pinned platform key, decoded.
    pub fn platform_key(&self) -> AppResult<Option<[u8; 32]>> {
        let Some(hex_key) = &self.platform_public_key else {
            return Ok(None);
        };
        hex::decode(hex_key)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .map(Some)
            .ok_or_else(|| {
                AppError::new(
                    AppCode::BrandInvalid,
                    "platform_public_key: 64 hex digits expected",
                )
            })
    }
}

fn is_loopback_url(url: &str) -> bool {
    host_of(url).is_some_and(|h| {
        h == "localhost"
            || h.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    })
}

/// The host of an `http(s)` URL without credentials.
fn host_of(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return None;
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    (!host.is_empty()).then_some(host)
}

/// Study records, photos and passwords go to the platform: `https`, or plain `http`
/// only to this machine (the demo, tests).
fn check_platform_url(url: &str) -> AppResult<()> {
    let bad = |why: &str| {
        AppError::new(
            AppCode::BrandInvalid,
            format!("platform_url {url:?}: {why}"),
        )
    };
    let (scheme, _) = url.split_once("://").ok_or_else(|| bad("not a URL"))?;
    if host_of(url).is_none() {
        return Err(bad("no host, or credentials in the URL"));
    }
    let loopback = is_loopback_url(url);
    match scheme {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(bad("plain http is allowed only on loopback; use https")),
        _ => Err(bad("the scheme must be https")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_platform_is_https_except_on_loopback() {
        for ok in [
            "https://train.example.cn",
            "https://train.example.cn:8443/keshi",
            "http://127.0.0.1:8787",
            "http://localhost:9000/",
            "http://[::1]:8080",
        ] {
            assert!(super::check_platform_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://train.example.cn",
            "http://10.0.0.5:8080",
            "http://127.0.0.1.evil.cn",
            "http://user@127.0.0.1",
            "ftp://127.0.0.1",
            "127.0.0.1:8787",
            "https://",
        ] {
            assert!(super::check_platform_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn embedded_brand_parses_and_names_a_known_profile() {
        let b: super::Brand = serde_json::from_str(super::DEFAULT).unwrap();
        player_core::policy::Policy::by_id(&b.profile).unwrap();
        assert!(b.platform_url.starts_with("http"));
    }
}
