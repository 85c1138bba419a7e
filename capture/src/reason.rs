//! Why a frame or a check was refused, with a stable code and plain words for the
//! learner in Simplified Chinese and English.
//!
//! Codes go into the study journal (R-ST-3, R-ST-6) and must never be renamed; new
//! reasons may be added.

use serde::{Deserialize, Serialize};

/// One reason a capture, a login liveness check or an image check was refused.
///
/// Serialized as its [`code`](Reason::code) (snake case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// No face was found.
    NoFace,
    /// More than one face was found.
    MultipleFaces,
    /// The face is too small in the picture (learner too far away).
    FaceTooSmall,
    /// The face is partly outside the picture.
    FaceCutOff,
    /// The face is too dark.
    TooDark,
    /// The face is too bright (back light, overexposed).
    TooBright,
    /// The face is blurred (out of focus or moving fast).
    TooBlurry,
    /// The camera delivered the same picture again and again (R-ID-2).
    FrozenFrame,
    /// Nothing moved across the burst: a still picture rather than a person (R-ID-2).
    NoMotion,
    /// Earlier pictures came back later in the burst: a looped recording (R-ID-2).
    ReplayedFrames,
    /// The camera is a virtual camera (OBS, ManyCam, e2eSoft VCam, ...) (R-ID-2).
    VirtualCamera,
    /// The learner did not do what the active challenge asked (R-ID-2).
    ChallengeNotDone,
    /// The face disappeared during the burst.
    FaceLost,
    /// The camera delivered no usable picture.
    NoFrames,
    /// The image file could not be read or decoded.
    UnreadableImage,
    /// The head is turned or tilted too far to compare the face (issue 14).
    FaceTurned,
    /// The face is not the registered learner's (R-ID-2, issue 14).
    FaceMismatch,
    /// The face moved like a flat picture, not a head (R-ID-2, issue 14).
    PlanarMotion,
}

impl Reason {
    /// Every reason, in declaration order (for documentation and tests).
    pub const ALL: [Reason; 18] = [
        Reason::NoFace,
        Reason::MultipleFaces,
        Reason::FaceTooSmall,
        Reason::FaceCutOff,
        Reason::TooDark,
        Reason::TooBright,
        Reason::TooBlurry,
        Reason::FrozenFrame,
        Reason::NoMotion,
        Reason::ReplayedFrames,
        Reason::VirtualCamera,
        Reason::ChallengeNotDone,
        Reason::FaceLost,
        Reason::NoFrames,
        Reason::UnreadableImage,
        Reason::FaceTurned,
        Reason::FaceMismatch,
        Reason::PlanarMotion,
    ];

    /// The stable code (the same string serde writes).
    pub fn code(self) -> &'static str {
        match self {
            Reason::NoFace => "no_face",
            Reason::MultipleFaces => "multiple_faces",
            Reason::FaceTooSmall => "face_too_small",
            Reason::FaceCutOff => "face_cut_off",
            Reason::TooDark => "too_dark",
            Reason::TooBright => "too_bright",
            Reason::TooBlurry => "too_blurry",
            Reason::FrozenFrame => "frozen_frame",
            Reason::NoMotion => "no_motion",
            Reason::ReplayedFrames => "replayed_frames",
            Reason::VirtualCamera => "virtual_camera",
            Reason::ChallengeNotDone => "challenge_not_done",
            Reason::FaceLost => "face_lost",
            Reason::NoFrames => "no_frames",
            Reason::UnreadableImage => "unreadable_image",
            Reason::FaceTurned => "face_turned",
            Reason::FaceMismatch => "face_mismatch",
            Reason::PlanarMotion => "planar_motion",
        }
    }

    /// Plain words for the learner, in Simplified Chinese.
    pub fn text_zh(self) -> &'static str {
        match self {
            Reason::NoFace => "没有检测到人脸，请正对摄像头。",
            Reason::MultipleFaces => "画面中有多张人脸，请确保只有您本人在镜头前。",
            Reason::FaceTooSmall => "人脸太小，请靠近摄像头。",
            Reason::FaceCutOff => "人脸没有完整出现在画面中，请移到画面中央。",
            Reason::TooDark => "光线太暗，请打开灯或面向光源。",
            Reason::TooBright => "光线太亮，请避免强光或背光。",
            Reason::TooBlurry => "画面模糊，请保持不动并擦拭镜头。",
            Reason::FrozenFrame => "摄像头画面静止不变，请检查摄像头。",
            Reason::NoMotion => "未检测到真人的自然动作，请本人面对摄像头并轻微移动头部。",
            Reason::ReplayedFrames => "画面疑似循环播放的录像，请使用真实摄像头。",
            Reason::VirtualCamera => "检测到虚拟摄像头，请改用真实摄像头。",
            Reason::ChallengeNotDone => "未按提示完成动作，请按提示重试。",
            Reason::FaceLost => "检测过程中人脸离开了画面，请保持在镜头前。",
            Reason::NoFrames => "没有收到摄像头画面，请检查摄像头。",
            Reason::UnreadableImage => "无法读取图片。",
            Reason::FaceTurned => "请正对摄像头，不要转头或低头。",
            Reason::FaceMismatch => "人脸与注册学员不一致。",
            Reason::PlanarMotion => "画面中的人脸像一张平面照片，请本人面对摄像头。",
        }
    }

    /// Plain words for the learner, in English.
    pub fn text_en(self) -> &'static str {
        match self {
            Reason::NoFace => "No face was found. Please face the camera.",
            Reason::MultipleFaces => {
                "More than one face is in the picture. Make sure only you are in front of the camera."
            }
            Reason::FaceTooSmall => "Your face is too small in the picture. Please move closer.",
            Reason::FaceCutOff => {
                "Your face is not fully in the picture. Please move to the middle."
            }
            Reason::TooDark => "It is too dark. Turn on a light or face a light source.",
            Reason::TooBright => "It is too bright. Avoid strong light or light from behind you.",
            Reason::TooBlurry => "The picture is blurred. Hold still and clean the lens.",
            Reason::FrozenFrame => "The camera picture does not change. Please check the camera.",
            Reason::NoMotion => {
                "No natural movement was seen. Please sit in front of the camera yourself and move your head slightly."
            }
            Reason::ReplayedFrames => {
                "The picture looks like a looped recording. Please use a real camera."
            }
            Reason::VirtualCamera => "A virtual camera was detected. Please use a real camera.",
            Reason::ChallengeNotDone => {
                "The requested movement was not seen. Please follow the prompt and try again."
            }
            Reason::FaceLost => "Your face left the picture during the check. Please stay in view.",
            Reason::NoFrames => "No picture came from the camera. Please check the camera.",
            Reason::UnreadableImage => "The image could not be read.",
            Reason::FaceTurned => "Please face the camera directly; do not turn or lower your head.",
            Reason::FaceMismatch => "The face does not match the registered learner.",
            Reason::PlanarMotion => {
                "The face moved like a flat picture. Please sit in front of the camera yourself."
            }
        }
    }

    /// Code plus both texts, for JSON output.
    pub fn message(self) -> ReasonMessage {
        ReasonMessage {
            code: self.code(),
            zh_cn: self.text_zh(),
            en: self.text_en(),
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// A reason with its texts, as shown to the learner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReasonMessage {
    /// Stable code.
    pub code: &'static str,
    /// Simplified Chinese text.
    pub zh_cn: &'static str,
    /// English text.
    pub en: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_match_serde() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            assert!(seen.insert(r.code()), "duplicate code {}", r.code());
            assert!(r.code().chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            let json = serde_json::to_string(&r).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", r.code()));
            let back: Reason = serde_json::from_str(&json).unwrap_or(Reason::UnreadableImage);
            assert_eq!(back, r);
            assert!(!r.text_zh().is_empty() && !r.text_en().is_empty());
            assert!(r.text_zh().chars().any(|c| c > '\u{2e80}'), "{r} zh text");
        }
    }
}
