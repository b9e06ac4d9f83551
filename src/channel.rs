//! A brand channel: everything needed to turn a message for it into a delivered callback.

use std::sync::Arc;
use std::time::Duration;

use crate::deliver::{SuccessRule, UrlPolicy};
use crate::format::{BodyEncoding, TemplateFormatter};
use crate::message::MessageType;
use crate::retry::RetryPolicy;
use crate::sign::Signer;

/// One configured brand channel (the `[channels.<id>]` table, validated).
#[derive(Debug, Clone)]
pub struct Channel {
    pub id: String,
    pub message_types: Vec<MessageType>,
    /// Overrides the standard message's `appId` when set.
    pub app_id: Option<String>,
    pub timeout: Duration,
    pub max_in_flight: usize,
    /// The largest body this brand is sent; a template stops rendering past it.
    pub max_body_bytes: usize,
    pub encoding: BodyEncoding,
    /// Renders the brand's own body for `messageType = third`; present whenever it is accepted.
    pub template: Option<Arc<TemplateFormatter>>,
    pub notify_id_header: bool,
    pub url_policy: UrlPolicy,
    pub signer: Signer,
    pub success: SuccessRule,
    pub retry: RetryPolicy,
}

impl Channel {
    /// Whether this channel takes messages of `kind`.
    pub fn accepts(&self, kind: MessageType) -> bool {
        self.message_types.contains(&kind)
    }
}
