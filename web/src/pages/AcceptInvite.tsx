// Accepting an invite: the link carries the token in its fragment (`/invite#<token>`), which
// browsers never send to a server or in a Referer. A signed-in user joins as themselves; anyone
// else creates their account here and is signed in.
import { useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router";
import { api, errorMessage, unwrap } from "../api/client";
import { useAuth } from "../auth/AuthProvider";
import { Button } from "../components/ui/button";
import { Card, ErrorNote } from "../components/ui/card";
import { Input, Label } from "../components/ui/input";

/** The link an invitee opens. */
export function inviteLink(origin: string, token: string): string {
  return `${origin}/invite#${encodeURIComponent(token)}`;
}

export function AcceptInvite() {
  const { status, me, reloadMe, adoptSession } = useAuth();
  const navigate = useNavigate();
  const token = decodeURIComponent(window.location.hash.slice(1));
  const [email, setEmail] = useState("");
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const accept = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const signedIn = status === "signed-in";
      const accepted = unwrap(
        await api.POST("/api/v1/invites/accept", {
          body: signedIn
            ? { token, email: null, display_name: null, password: null }
            : { token, email, display_name: name, password },
        }),
      );
      if (accepted.tokens) await adoptSession(accepted.tokens);
      else await reloadMe();
      // A new user's only org is the one they joined; others pick it in the org switcher.
      navigate("/", { replace: true });
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="flex min-h-screen items-center justify-center p-4">
      <Card className="w-full max-w-sm">
        <h1 className="mb-1 text-xl font-semibold">Join an org on gsm</h1>
        {!token ? (
          <p className="text-sm">This link has no invite token; ask for a new invite.</p>
        ) : (
          <form onSubmit={accept} className="flex flex-col gap-3">
            {status === "signed-in" ? (
              <p className="text-sm text-muted-fg">You will join as {me?.user.email}.</p>
            ) : (
              <>
                <p className="text-sm text-muted-fg">
                  Create your account, or <Link className="text-primary underline" to="/login">sign in</Link> first and open the link again.
                </p>
                <div>
                  <Label htmlFor="invite-accept-email">Email (the invited address)</Label>
                  <Input id="invite-accept-email" type="email" required autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} />
                </div>
                <div>
                  <Label htmlFor="invite-accept-name">Your name</Label>
                  <Input id="invite-accept-name" required value={name} onChange={(e) => setName(e.target.value)} />
                </div>
                <div>
                  <Label htmlFor="invite-accept-password">Password</Label>
                  <Input
                    id="invite-accept-password"
                    type="password"
                    required
                    autoComplete="new-password"
                    value={password}
                    onChange={(e) => setPassword(e.target.value)}
                  />
                </div>
              </>
            )}
            <ErrorNote error={error} />
            <Button type="submit" disabled={busy}>
              Accept the invite
            </Button>
          </form>
        )}
      </Card>
    </main>
  );
}
