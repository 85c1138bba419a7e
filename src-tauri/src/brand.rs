//! The institution's brand configuration: name, platform, policy profile.
//!
//! Institutions brand and distribute the app; the configuration is embedded at build
//! time (`brand/default.json`) and may be replaced by a file named in `KESHI_BRAND`.
//! `KESHI_PLATFORM_URL` overrides the platform (the demo starts one on a free port).

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
}

const DEFAULT: &str = include_str!("../brand/default.json");

impl Brand {
    /// The brand in force: `KESHI_BRAND` or the embedded default, then
    /// `KESHI_PLATFORM_URL`.
    pub fn load() -> AppResult<Brand> {
        let mut brand: Brand = match std::env::var_os("KESHI_BRAND") {
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
        if let Ok(url) = std::env::var("KESHI_PLATFORM_URL") {
            brand.platform_url = url;
        }
        player_core::policy::Policy::by_id(&brand.profile)
            .map_err(|e| AppError::new(AppCode::BrandInvalid, e.to_string()))?;
        Ok(brand)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn embedded_brand_parses_and_names_a_known_profile() {
        let b: super::Brand = serde_json::from_str(super::DEFAULT).unwrap();
        player_core::policy::Policy::by_id(&b.profile).unwrap();
        assert!(b.platform_url.starts_with("http"));
    }
}
