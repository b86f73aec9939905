//! Class `channel` (20): open, flow control, close.

use super::methods;
use crate::strings::{LongStr, ShortStr};

methods! {
    class "channel" = 20;

    /// channel.open.
    Open = 10, "open" {
        /// Deprecated, empty.
        out_of_band: ShortStr = "out-of-band",
    }

    /// channel.open-ok.
    OpenOk = 11, "open-ok" {
        /// Deprecated, empty.
        channel_id: LongStr = "channel-id",
    }

    /// channel.flow: asks the peer to pause or resume sending content.
    Flow = 20, "flow" {
        /// True to resume, false to pause.
        active: bool = "active",
    }

    /// channel.flow-ok.
    FlowOk = 21, "flow-ok" {
        /// The flow state now in force.
        active: bool = "active",
    }

    /// channel.close: either side closes the channel, with a reason.
    Close = 40, "close" {
        /// Reply code.
        reply_code: u16 = "reply-code",
        /// Reply text.
        reply_text: ShortStr = "reply-text",
        /// Class of the method that caused the close, or 0.
        class_id: u16 = "class-id",
        /// Method that caused the close, or 0.
        method_id: u16 = "method-id",
    }

    /// channel.close-ok.
    CloseOk = 41, "close-ok" {}
}
