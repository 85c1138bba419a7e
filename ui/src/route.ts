// Where the learner is: a typed route (never a string), and what a mounted screen
// can do. One module per screen in `screens/`.

export type Route =
  | { screen: "signin"; revoked?: boolean }
  | { screen: "verify" }
  | { screen: "courses" }
  | { screen: "player"; courseId: string }
  | { screen: "records" }
  | { screen: "proof"; courseId: string };

export type ScreenName = Route["screen"];

/** A mounted screen. */
export interface Screen {
  /** After a language switch (language-bound texts are already re-labelled):
   * re-draws what the screen computes itself, keeping its state. */
  relabel?(): void;
  /** Before the screen goes away: stop timers and listeners, close the course. */
  leave?(): Promise<void> | void;
}

/** What a screen may ask of the app. */
export interface Nav {
  go(route: Route): Promise<void>;
  /** Re-reads app info (signed in, verified) and redraws the header. */
  refreshInfo(): Promise<void>;
}

/** Which header tab a route belongs to. */
export function tabOf(route: Route): "courses" | "records" | null {
  switch (route.screen) {
    case "courses":
    case "player":
    case "proof":
      return "courses";
    case "records":
      return "records";
    case "signin":
    case "verify":
      return null;
  }
}
